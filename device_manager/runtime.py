"""The operations runtime of one app: settings, the job manager, the secret box and the seat backend.
Created lazily on ``app.state`` the first time a route needs it, so ``main.py`` only mounts routers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session, sessionmaker

from device_manager.core.secrets import SecretBox
from device_manager.jobs.manager import JobManager

if TYPE_CHECKING:
    from device_manager.windows.seat import SeatBackend


class OpsSettings(BaseSettings):
    """Settings of SSH operations, playbook runs and window setup (prefix ``HALLCLOUD_OPS_``)."""

    model_config = SettingsConfigDict(env_prefix="HALLCLOUD_OPS_", env_file=None, extra="ignore")

    job_workers: int = Field(default=4, ge=1)
    ssh_port: int = Field(default=22, ge=1, le=65535)
    ssh_concurrency: int = Field(default=20, ge=1)  # devices contacted at once by one job
    ssh_connect_timeout_s: float = Field(default=10.0, gt=0)
    ansible_timeout_s: int = Field(default=10, ge=1)  # ansible's SSH connect timeout
    ansible_forks: int = Field(default=10, ge=1)
    # the devices' Python for ansible modules; "auto_silent" lets ansible discover it
    ansible_python_interpreter: str = "auto_silent"
    # where HallCloud's files live on a device: "" (the real root) on hall hardware; the tests use
    # "/tmp/<dir>/{device}" so several namespaced test devices can share one file system
    device_root_template: str = ""
    # infra Automation API stack for window setup (see infra/automation.py)
    stack: str = ""
    pulumi_state_dir: str = ""
    # seat of a window the stack does not define yet: {"gov": {"image": ...}, "internet": {...}}
    # (JSON in HALLCLOUD_OPS_SEAT_TEMPLATE); unset: copy the stack's first window's seat
    seat_template: dict[str, Any] | None = None

    def device_root(self, device_name: str) -> str:
        return self.device_root_template.replace("{device}", device_name)


@dataclass
class OpsRuntime:
    settings: OpsSettings
    session_factory: sessionmaker[Session]
    box: SecretBox
    jobs: JobManager
    seat_backend: SeatBackend | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()


def ops_runtime(state: Any) -> OpsRuntime:
    """The runtime stored on an app's ``state`` (created on first use)."""
    with _lock:
        runtime: OpsRuntime | None = getattr(state, "ops", None)
        if runtime is None:
            settings = getattr(state, "ops_settings", None) or OpsSettings()
            runtime = OpsRuntime(
                settings=settings,
                session_factory=state.session_factory,
                box=state.secret_box,
                jobs=JobManager(state.session_factory, settings.job_workers),
            )
            state.ops = runtime
        return runtime
