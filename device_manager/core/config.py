"""The one ``Settings`` object of the device manager: every environment variable it reads is a field here
(prefix ``HALLCLOUD_``; the SSH, playbook and window-setup settings keep their ``HALLCLOUD_OPS_*``
names). ``device_manager/README.md`` documents each one.

Outside ``development`` the settings refuse default secrets: the token pepper must be changed and the
credential master key must come from a file or the environment (never generated next to the database).
The data directory (SQLite database, generated development master key, seats file) defaults to
``device-manager`` in HallCloud's state directory (``vdi.paths.state_dir()``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vdi.paths import state_dir

__all__ = ["DEFAULT_SECRET", "SETTINGS_FILE_ENV", "Settings", "default_data_dir", "settings_file"]

DEFAULT_SECRET = "changethis"


def default_data_dir() -> Path:
    """``<HallCloud's state directory>/device-manager`` (not created here)."""
    return state_dir(create=False) / "device-manager"


SETTINGS_FILE_ENV = "HALLCLOUD_SETTINGS_FILE"


def settings_file() -> Path | None:
    """The controller's settings file: ``$HALLCLOUD_SETTINGS_FILE``, else ``controller.env`` in the default
    data directory when it exists (``make demo`` writes one). ``KEY=value`` lines with the same names as
    the environment variables; a variable set in the environment wins over the file."""
    named = os.environ.get(SETTINGS_FILE_ENV)
    if named:
        return Path(named).expanduser()
    default = default_data_dir() / "controller.env"
    return default if default.is_file() else None


def _ops(name: str) -> str:
    """The environment variable of an SSH / playbook / window-setup setting: ``HALLCLOUD_OPS_<NAME>``."""
    return f"HALLCLOUD_OPS_{name.upper()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HALLCLOUD_", env_file=None, extra="ignore", populate_by_name=True
    )

    def __init__(self, **values: Any) -> None:
        # every process of the controller (hall serve, hall window, hall admin) reads the one settings file
        values.setdefault("_env_file", settings_file())
        super().__init__(**values)

    environment: Literal["development", "test", "production"] = "development"
    api_v1_prefix: str = "/api/v1"
    project_name: str = "HallCloud device manager"

    data_dir: Path = Field(default_factory=default_data_dir)
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

    # web pages: noVNC for the seat pages, where the consoles' websockify proxies listen, the seats
    novnc_dir: Path = Path("/usr/share/novnc")
    console_proxy_listen: str = "127.0.0.1"
    seats_file: Path | None = None  # None: <data_dir>/seats.yaml (written by `hall stack seats-file`)

    # SSH operations, playbook runs and window setup (HALLCLOUD_OPS_*)
    job_workers: int = Field(default=4, ge=1, validation_alias=_ops("job_workers"))
    ssh_port: int = Field(default=22, ge=1, le=65535, validation_alias=_ops("ssh_port"))
    # devices contacted at once by one job
    ssh_concurrency: int = Field(default=20, ge=1, validation_alias=_ops("ssh_concurrency"))
    ssh_connect_timeout_s: float = Field(default=10.0, gt=0, validation_alias=_ops("ssh_connect_timeout_s"))
    # ansible's SSH connect timeout
    ansible_timeout_s: int = Field(default=10, ge=1, validation_alias=_ops("ansible_timeout_s"))
    ansible_forks: int = Field(default=10, ge=1, validation_alias=_ops("ansible_forks"))
    # the devices' Python for ansible modules; "auto_silent" lets ansible discover it
    ansible_python_interpreter: str = Field(
        default="auto_silent", validation_alias=_ops("ansible_python_interpreter")
    )
    # where HallCloud's files live on a device: "" (the real root) on hall hardware; the tests use
    # "/tmp/<dir>/{device}" so several namespaced test devices can share one file system
    device_root_template: str = Field(default="", validation_alias=_ops("device_root_template"))
    # infra Automation API stack for window setup (see infra/automation.py)
    stack: str = Field(default="", validation_alias=_ops("stack"))
    pulumi_state_dir: str = Field(default="", validation_alias=_ops("pulumi_state_dir"))
    # seat of a window the stack does not define yet: {"gov": {"image": ...}, "internet": {...}}
    # (JSON); unset: copy the stack's first window's seat
    seat_template: dict[str, Any] | None = Field(default=None, validation_alias=_ops("seat_template"))

    def device_root(self, device_name: str) -> str:
        return self.device_root_template.replace("{device}", device_name)

    @property
    def seats_path(self) -> Path:
        return self.seats_file if self.seats_file is not None else self.data_dir / "seats.yaml"

    def prepare_data_dir(self) -> Path:
        """Create the data directory (mode 0700, and the state directory above it for the default one)
        when it does not exist yet; return it."""
        if self.data_dir == default_data_dir():
            state_dir()  # creates it 0700, as every package does
        if not self.data_dir.is_dir():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.data_dir.chmod(0o700)
        return self.data_dir

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
