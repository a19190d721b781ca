"""The window setup workflow, as a job:

1. ``seat``      apply the window's seat (desktop pair) through the seat backend (``infra.automation``)
2. ``bind``      bind the devices the inventory places at the window (``window_id``)
3. ``configure`` run ``window_setup.yml`` on the devices whose type window setup configures (the thin
                 client gets the seat's console endpoints, the calling display the window number and text)
4. ``verify``    desktops running, then each device as its type says (the thin client's config names
                 both consoles, the calling display answers over SSH, peripherals are not down)

What each device type takes part in comes from the device-type registry (``window_setup`` in
``device_manager/device_types/<type>.yaml``: how many a window has, its play's ansible role and
variables, how it is verified); a bound device of a type the registry does not describe is a
peripheral, checked not to be down. Binding and verifying the devices is ``devices.py``.

Each step records the digest of its inputs in ``window_setups.steps``; a re-run skips a step whose
inputs did not change and that succeeded (the seat is still checked to be running), so changing a
window's services re-runs only the calling display. A failure stores the failed step and a message
that names the object; the next run retries from there. Teardown reverses it (devices, then the seat).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from device_manager.ansible import adapter
from device_manager.ansible import service as playbook_service
from device_manager.ansible.playbooks import get as get_playbook
from device_manager.db.job_models import Job, WindowSetupState
from device_manager.db.models import Site, Window, utcnow
from device_manager.device_types import WINDOW_VARIABLES, Registry, default_registry
from device_manager.errors import Conflict, DomainError, Invalid, NotFound
from device_manager.jobs.manager import JobContext, JobFailed
from device_manager.ssh.errors import SshError
from device_manager.windows.devices import Binding, StepFailed, WindowRef, bind, type_label, verify
from device_manager.windows.seat import SeatBackend, SeatError, SeatInfo

if TYPE_CHECKING:
    from device_manager.runtime import Runtime

__all__ = [
    "STEPS",
    "TEARDOWN_STEPS",
    "Binding",
    "StepFailed",
    "WindowSetup",
    "digest",
    "find_window",
    "state_of",
]

STEPS = ("seat", "bind", "configure", "verify")
TEARDOWN_STEPS = ("unconfigure", "seat")


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def find_window(db: Session, number: int, site_id: int | None, visible: Callable[[int], bool]) -> Window:
    query = select(Window).where(Window.number == number)
    if site_id is not None:
        query = query.where(Window.site_id == site_id)
    windows = [w for w in db.scalars(query) if visible(w.site_id)]
    if not windows:
        raise NotFound("window", number)
    if len(windows) > 1:
        slugs = {
            s.id: s.slug for s in db.scalars(select(Site).where(Site.id.in_([w.site_id for w in windows])))
        }
        raise Invalid.field(
            "site_id",
            f"window {number} exists in several halls ({', '.join(sorted(slugs.values()))}); pass site_id",
        )
    return windows[0]


def state_of(db: Session, window_id: int) -> WindowSetupState:
    state = db.get(WindowSetupState, window_id)
    if state is None:
        state = WindowSetupState(window_id=window_id, status="absent", steps={}, outputs={})
        db.add(state)
        db.flush()
    return state


class WindowSetup:
    """Runs setup and teardown jobs for windows. ``on_step(name)`` is called as each step starts
    (progress hooks, and tests that break a device in the middle)."""

    def __init__(
        self,
        runtime: Runtime,
        backend: SeatBackend,
        *,
        playbook_runner: playbook_service.RunPlaybook = adapter.run,
        on_step: Callable[[str], None] | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.runtime = runtime
        self.backend = backend
        self.playbook_runner = playbook_runner
        self.on_step = on_step
        self.registry = registry or default_registry()

    # --- submitting -----------------------------------------------------------------------------------

    def submit(self, db: Session, window: Window, actor: str, *, teardown: bool = False) -> int:
        ref = WindowRef(window.id, window.site_id, window.number, window.name, list(window.services or []))
        state = state_of(db, window.id)
        if state.status in ("running", "tearing_down") and state.last_job_id is not None:
            job = db.get(Job, state.last_job_id)
            if job is not None and job.status in ("queued", "running"):
                raise Conflict.field(
                    "number", f"window {window.number}: job {job.id} ({job.kind}) is still {job.status}"
                )
        state.status = "tearing_down" if teardown else "running"
        db.commit()  # release the SQLite write lock before the job starts writing
        kind = "window_teardown" if teardown else "window_setup"
        work = (lambda ctx: self._teardown(ctx, ref)) if teardown else (lambda ctx: self._setup(ctx, ref))
        job_id = self.runtime.jobs.submit(
            kind,
            f"{'teardown' if teardown else 'setup'} of window {ref.number} ({ref.name})",
            work,
            params={"window_id": ref.id, "number": ref.number},
            created_by=actor,
            site_id=ref.site_id,
            window_id=ref.id,
        )
        with self.runtime.session_factory() as s, s.begin():
            state_of(s, ref.id).last_job_id = job_id
        return job_id

    # --- state ----------------------------------------------------------------------------------------

    def _update(self, window_id: int, **values: Any) -> None:
        with self.runtime.session_factory() as db, db.begin():
            state = state_of(db, window_id)
            for key, value in values.items():
                setattr(state, key, value)
            state.updated_at = utcnow()

    def _record_step(self, window_id: int, step: str, **info: Any) -> None:
        with self.runtime.session_factory() as db, db.begin():
            state = state_of(db, window_id)
            steps = dict(state.steps or {})
            steps[step] = {**steps.get(step, {}), **info, "at": utcnow().isoformat()}
            state.steps = steps

    def _steps(self, window_id: int) -> dict[str, Any]:
        with self.runtime.session_factory() as db:
            state = db.get(WindowSetupState, window_id)
            return dict(state.steps or {}) if state else {}

    def _outputs(self, window_id: int, **values: Any) -> None:
        with self.runtime.session_factory() as db, db.begin():
            state = state_of(db, window_id)
            state.outputs = {**(state.outputs or {}), **values}

    # --- the setup job --------------------------------------------------------------------------------

    def _run_steps(
        self,
        ctx: JobContext,
        ref: WindowRef,
        steps: tuple[str, ...],
        run_step: Callable[[str], str],
        final_status: str,
    ) -> dict[str, Any]:
        timings: dict[str, float] = {}
        outcomes: dict[str, str] = {}
        for index, step in enumerate(steps):
            ctx.check_cancelled()
            ctx.progress(index / len(steps), step)
            ctx.log(f"window {ref.number}: step {index + 1}/{len(steps)}: {step}")
            if self.on_step is not None:
                self.on_step(step)
            started = time.monotonic()
            try:
                outcomes[step] = run_step(step)
            except (StepFailed, SeatError, SshError, DomainError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                text = f"window {ref.number}: step {index + 1} ({step}) failed: {message}"
                self._record_step(ref.id, step, status="failed", seconds=round(time.monotonic() - started, 3))
                self._update(ref.id, status="failed", failed_step=step, error=text)
                raise JobFailed(
                    text, step, {"timings": timings, "steps": outcomes, "failed_step": step}
                ) from exc
            except BaseException as exc:
                text = f"window {ref.number}: step {index + 1} ({step}) stopped: {type(exc).__name__}: {exc}"
                self._update(ref.id, status="failed", failed_step=step, error=text)
                raise
            timings[step] = round(time.monotonic() - started, 3)
            self._record_step(ref.id, step, status="done", seconds=timings[step])
            ctx.log(f"window {ref.number}: step {step}: {outcomes[step]} in {timings[step]:.2f} s")
        self._update(ref.id, status=final_status, failed_step=None, error=None)
        return {"timings": timings, "steps": outcomes}

    def _setup(self, ctx: JobContext, ref: WindowRef) -> dict[str, Any]:
        self._update(ref.id, status="running", failed_step=None, error=None)
        previous = self._steps(ref.id)
        seat: dict[str, SeatInfo] = {}
        binding: dict[str, Binding] = {}

        def run_step(step: str) -> str:
            if step == "seat":
                outcome, seat["info"] = self._step_seat(ctx, ref, previous.get("seat"))
                return outcome
            if step == "bind":
                binding["b"] = self._step_bind(ref)
                return "bound " + ", ".join(self._names(binding["b"]))
            if step == "configure":
                return self._step_configure(ctx, ref, seat["info"], binding["b"], previous)
            return self._step_verify(ctx, ref, binding["b"])

        result = self._run_steps(ctx, ref, STEPS, run_step, "ready")
        with self.runtime.session_factory() as db:
            state = db.get(WindowSetupState, ref.id)
            result["outputs"] = dict(state.outputs or {}) if state else {}
        return result

    @staticmethod
    def _names(binding: Binding) -> list[str]:
        devices = [*binding.configured_devices(), *binding.peripherals]
        return [f"{d['name']} ({d['type']})" for d in devices]

    def _step_seat(
        self, ctx: JobContext, ref: WindowRef, previous: Mapping[str, Any] | None
    ) -> tuple[str, SeatInfo]:
        want = digest({"number": ref.number, "name": ref.name})
        if previous and previous.get("status") == "done" and previous.get("digest") == want:
            info = self.backend.status(ref.number)
            if info is not None and all(info.running.get(s) for s in ("gov", "internet")):
                self._outputs(ref.id, seat=info.as_dict())
                return "unchanged (desktops running)", info
            ctx.log(
                f"window {ref.number}: seat recorded as done but its desktops are not running: re-applying"
            )
        info = self.backend.apply(
            ref.number,
            ref.name,
            on_output=lambda line: ctx.log(line.rstrip(), "output"),
            cancel=ctx.cancel_event,
        )
        self._record_step(ref.id, "seat", digest=want)
        self._outputs(ref.id, seat=info.as_dict())
        return "applied", info

    def _step_bind(self, ref: WindowRef) -> Binding:
        binding = bind(self.runtime, self.registry, ref)
        self._record_step(ref.id, "bind", digest=digest(binding.public()))
        self._outputs(ref.id, devices=binding.public())
        return binding

    def _step_verify(self, ctx: JobContext, ref: WindowRef, binding: Binding) -> str:
        info = self.backend.status(ref.number)
        if info is None:
            raise StepFailed(f"window {ref.number}: the hall stack has no seat for this window")
        stopped = [info.desktops[s] for s in ("gov", "internet") if not info.running.get(s)]
        if stopped:
            raise StepFailed(f"desktop(s) {', '.join(stopped)} not running")
        return verify(self.runtime, ref, info, binding, ctx.log)

    def _step_configure(
        self, ctx: JobContext, ref: WindowRef, seat: SeatInfo, binding: Binding, previous: Mapping[str, Any]
    ) -> str:
        window: dict[str, Any] = {
            "hall_window_number": ref.number,
            "hall_window_name": ref.name,
            "hall_window_services": ref.services,
            "hall_consoles": [c.as_playbook_var() for c in seat.consoles],
        }
        assert set(window) == set(WINDOW_VARIABLES)
        plans: list[tuple[str, str, list[adapter.InventoryHost], dict[str, Any]]] = []
        for spec in binding.configured():
            assert spec.window_setup is not None and spec.window_setup.configure is not None
            found = binding.devices.get(spec.slug, [])
            if not found:
                continue
            variables = {v: window[v] for v in spec.window_setup.configure.variables if v in window}
            hosts = [binding.hosts[d["id"]] for d in found]
            plans.append((spec.slug, f"configure:{spec.slug}", hosts, variables))

        todo = []
        outcome = []
        for name, key, hosts, variables in plans:
            want = digest({"vars": variables, "hosts": [(h.name, h.address) for h in hosts]})
            before = previous.get(key) or {}
            if before.get("status") == "done" and before.get("digest") == want:
                outcome.append(f"{name} unchanged")
                continue
            todo.append((name, key, hosts, variables, want))
        if not todo:
            return "; ".join(outcome)

        # one ansible-playbook run for every device that needs it (window_setup.yml runs each device's
        # role): ansible's start-up is paid once, and only the changed devices take part
        playbook = get_playbook("window_setup")
        run_hosts = tuple(h for _name, _key, todo_hosts, _vars, _want in todo for h in todo_hosts)
        extra_vars: dict[str, Any] = {}
        for _name, _key, _hosts, variables, _want in todo:
            extra_vars.update(variables)
        result = playbook_service.run_in_job(
            ctx,
            playbook,
            run_hosts,
            extra_vars=extra_vars,
            settings=self.runtime.settings,
            runner=self.playbook_runner,
        )
        errors = []
        for name, key, todo_hosts, _vars, want in todo:
            names = {h.name for h in todo_hosts}
            failed = [f for f in result.failures if f.host in names]
            if failed or (result.status != "successful" and not result.failures):
                self._record_step(ref.id, key, status="failed")
                reasons = [
                    f"{f.host}: {'unreachable' if f.kind == 'unreachable' else f'task {f.task!r} failed'}: "
                    f"{f.message}"
                    for f in failed
                ]
                detail = (
                    "; ".join(reasons) or f"ansible-runner finished with {result.status} (rc {result.rc})"
                )
                errors.append(f"playbook {name}: {detail}")
            else:
                self._record_step(ref.id, key, status="done", digest=want)
        if errors:
            raise StepFailed("; ".join(errors))
        return "; ".join([*outcome, *(f"{name} applied" for name, *_ in todo)])

    # --- the teardown job -----------------------------------------------------------------------------

    def _teardown(self, ctx: JobContext, ref: WindowRef) -> dict[str, Any]:
        def run_step(step: str) -> str:
            if step == "unconfigure":
                binding, missing = self._step_bind_quiet(ref)
                if binding is None:
                    return f"no {type_label(missing)} bound: nothing to unconfigure"
                hosts = tuple(binding.hosts[d["id"]] for d in binding.configured_devices())
                playbook = get_playbook("window_setup")
                result = playbook_service.run_in_job(
                    ctx,
                    playbook,
                    hosts,
                    extra_vars={"hall_state": "absent", "hall_window_number": ref.number},
                    settings=self.runtime.settings,
                    runner=self.playbook_runner,
                )
                if not result.ok:
                    raise StepFailed(playbook_service.failure_message(playbook, result))
                labels = [type_label(t.slug) for t in binding.configured()]
                return f"{' and '.join(labels)} configuration removed"
            self.backend.remove(
                ref.number, on_output=lambda line: ctx.log(line.rstrip(), "output"), cancel=ctx.cancel_event
            )
            return "seat removed"

        result = self._run_steps(ctx, ref, TEARDOWN_STEPS, run_step, "absent")
        self._update(ref.id, steps={}, outputs={})
        return result

    def _step_bind_quiet(self, ref: WindowRef) -> tuple[Binding | None, str]:
        """The binding, or (None, the device type) when a device the window must have is not bound."""
        try:
            return self._step_bind(ref), ""
        except StepFailed as exc:
            if exc.missing:
                return None, exc.missing
            raise
