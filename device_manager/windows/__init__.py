"""Fast window setup: one call opens a service window (desktop pair + thin client + calling display),
idempotently, step by step, with a state that names the failed step; and its teardown."""

__all__: list[str] = []
