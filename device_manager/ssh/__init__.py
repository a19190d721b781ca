"""SSH to hall devices (paramiko): host keys verified against the keys trusted per device, a catalog
of named operations per device type, and a bounded-concurrency runner whose output goes to jobs.

Nothing here accepts an unknown host key: first contact goes through :func:`hostkeys.scan` (shows the
fingerprint) and :func:`hostkeys.trust` (an operator confirms it). A key that differs from the trusted
one is refused and raises an alert.
"""

__all__: list[str] = []
