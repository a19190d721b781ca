"""Cross-cutting pieces of the device manager: settings, secrets, security, metrics."""

__all__: list[str] = []
