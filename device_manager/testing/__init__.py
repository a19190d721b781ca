"""Real components for tests and benchmarks: SNMP agents on loopback (:mod:`.snmp_agents`), hall
devices as sshd in network namespaces (:mod:`.ssh_hosts`), free ports (:mod:`.net`).

Nothing here imports pytest: the fixtures that wrap these live in ``tests/plugin.py``, and the
benchmarks use the classes directly. Every process started here is stopped by its handle (never by
name), every namespace and interface carries a random tag.
"""

__all__: list[str] = []
