"""Fast window setup: one call opens a service window (desktop pair + thin client + calling display),
idempotently, step by step, with a state that names the failed step; and its teardown. What each
device type takes part in comes from the device-type registry (``device_manager/device_types``)."""

__all__: list[str] = []
