"""Application services: inventory, credentials, alerts, polling, notifications, audit."""
