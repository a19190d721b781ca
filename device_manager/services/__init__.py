"""Application services: inventory, credentials, alerts, polling, notifications, audit."""

__all__: list[str] = []
