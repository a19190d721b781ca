"""Database layer: SQLAlchemy 2 models, engine/session factory and Alembic migrations."""

from device_manager.db import models_ops as models_ops  # registers the operations tables on Base.metadata
