"""SNMP monitoring: poll profiles (what to poll), credentials (how to authenticate), the asyncio poller
and the trap/inform receiver. Importing this package loads no MIBs and opens no sockets."""

__all__: list[str] = []
