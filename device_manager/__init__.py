"""The device manager: the FastAPI service that runs the hall's hardware (inventory, SNMP polling and
traps, alerts, SSH, playbooks, window setup, dashboard). ``README.md`` beside this file documents its
settings and API; ``main.create_app`` assembles it."""

__all__: list[str] = []
