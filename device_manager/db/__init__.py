"""Database layer: SQLAlchemy 2 models (``models``: inventory, credentials, polling, alerts, auth;
``job_models``: jobs, their log lines and window-setup state), the engine and session factory, and
Alembic migrations."""

from device_manager.db import job_models as job_models  # registers the job tables on Base.metadata

__all__ = ["job_models"]
