"""The one ``Settings`` object of the device manager (environment prefix ``HALLCLOUD_``).

Outside ``development`` the settings refuse default secrets: the token pepper must be changed and the
credential master key must come from a file or the environment (never generated next to the database).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "changethis"
DEFAULT_DATA_DIR = Path(".hallcloud")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HALLCLOUD_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    api_v1_prefix: str = "/api/v1"
    project_name: str = "HallCloud device manager"

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # empty: SQLite file in data_dir
    migrate_on_startup: bool = True

    # pepper mixed into every API-token hash; refused when left at the default outside development
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    # 32-byte AES key for credentials at rest, base64 (url-safe or standard) or from a file
    master_key: SecretStr | None = None
    master_key_file: Path | None = None

    # limits
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    rate_limit_burst: int = Field(default=120, ge=1)
    auth_failure_limit_per_minute: int = Field(default=10, ge=1)
    auth_failure_burst: int = Field(default=5, ge=1)

    # polling
    polling_enabled: bool = True
    poll_interval_s: float = Field(default=60.0, gt=0)
    poll_concurrency: int = Field(default=200, ge=1)
    metric_history_samples: int = Field(default=120, ge=1)

    # alert notifications
    webhook_urls: list[str] = []
    webhook_secret: SecretStr | None = None
    webhook_retries: int = Field(default=3, ge=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_backoff_s: float = Field(default=0.5, ge=0)

    # traps
    trap_listen: str | None = None  # "host:port"; None: no trap receiver
    trap_communities: list[str] = []

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'device_manager.db').resolve()}"

    @property
    def default_master_key_file(self) -> Path:
        return self.data_dir / "master.key"

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment == "development":
            return self
        problems = []
        if self.secret_key.get_secret_value() in ("", DEFAULT_SECRET):
            problems.append(
                "HALLCLOUD_SECRET_KEY is unset or the default 'changethis'; set a long random value"
            )
        if self.master_key is None and self.master_key_file is None:
            problems.append(
                "no credential master key: set HALLCLOUD_MASTER_KEY_FILE (a file outside the database "
                "directory) or HALLCLOUD_MASTER_KEY"
            )
        if problems:
            raise ValueError(f"environment '{self.environment}': " + "; ".join(problems))
        return self
