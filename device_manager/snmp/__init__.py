"""SNMP monitoring: poll profiles (what to poll: the registry's poll sections over ``modules/``),
credentials (how to authenticate), decoding, the asyncio poller (request ``plan``, ``transport``, the
pysnmp ``engine_id`` workaround) and the trap/inform receiver. Importing this package loads no MIBs and
opens no sockets."""

__all__: list[str] = []
