"""The one ansible-runner adapter: every playbook of ``playbooks/`` runs through it.

ansible-runner's model: a small entry point, an on-disk contract (the private data dir) and events
through callbacks. We build the private data dir from plain data (inventory from the database, a
known_hosts from the host keys trusted per device, keys 0600), run with host key checking ON, map
events to job progress and log lines, and delete the directory afterwards.
"""

__all__: list[str] = []
