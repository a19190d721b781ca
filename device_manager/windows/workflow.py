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
peripheral, checked not to be down.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from device_manager.ansible import adapter
from device_manager.ansible import service as playbook_service
from device_manager.ansible.playbooks import get as get_playbook
from device_manager.db.job_models import Job, WindowSetupState
from device_manager.db.models import Device, Site, Window, utcnow
from device_manager.device_types import WINDOW_VARIABLES, DeviceTypeSpec, Registry, default_registry
from device_manager.errors import Conflict, DomainError, Invalid, NotFound
from device_manager.jobs.manager import JobContext, JobFailed
from device_manager.ssh.client import run_command
from device_manager.ssh.errors import SshError
from device_manager.ssh.service import target_for
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


class StepFailed(Exception):
    def __init__(self, message: str, *, missing: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing  # the device type a window must have and has none of


def _label(device_type: str) -> str:
    return device_type.replace("_", " ")


@dataclass
class WindowRef:
    id: int
    site_id: int
    number: int
    name: str
    services: list[str]


@dataclass
class Binding:
    """The devices bound to a window: by window-setup device type (in the registry's order), and the
    peripherals (types window setup does not configure: checked, left alone)."""

    types: list[DeviceTypeSpec]  # the window-setup types, in order
    devices: dict[str, list[dict[str, Any]]]  # device type -> its bound devices
    peripherals: list[dict[str, Any]]
    hosts: dict[int, adapter.InventoryHost] = field(default_factory=dict, repr=False)

    def configured(self) -> list[DeviceTypeSpec]:
        return [t for t in self.types if t.window_setup is not None and t.window_setup.configure]

    def configured_devices(self) -> list[dict[str, Any]]:
        return [d for t in self.configured() for d in self.devices.get(t.slug, [])]

    def public(self) -> dict[str, Any]:
        """Device type -> its device (a type a window has one of) or devices; then the peripherals."""
        out: dict[str, Any] = {}
        for spec in self.configured():
            found = self.devices.get(spec.slug, [])
            one = spec.window_setup is not None and spec.window_setup.count == "one"
            out[spec.slug] = found[0] if one and found else found
        out["peripherals"] = self.peripherals
        return out


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
            ref.number, ref.name, on_output=lambda line: ctx.log(line.rstrip(), "output")
        )
        self._record_step(ref.id, "seat", digest=want)
        self._outputs(ref.id, seat=info.as_dict())
        return "applied", info

    def _step_bind(self, ref: WindowRef) -> Binding:
        settings = self.runtime.settings
        types = self.registry.window_setup_types()
        known = {t.slug: t for t in types}
        with self.runtime.session_factory() as db:
            devices = list(db.scalars(select(Device).where(Device.window_id == ref.id).order_by(Device.id)))
            by_type: dict[str, list[Device]] = {}
            for device in devices:
                by_type.setdefault(device.device_type.slug, []).append(device)
            for spec in types:
                found = by_type.get(spec.slug, [])
                if spec.window_setup is not None and spec.window_setup.count == "one" and len(found) != 1:
                    label = _label(spec.slug)
                    names = ", ".join(d.name for d in found) or "none"
                    raise StepFailed(
                        f"window {ref.number} needs exactly one {label} in the inventory, found {names}; "
                        f"set window_id on the {label}'s device (PATCH /api/v1/devices/{{id}})",
                        missing=spec.slug if not found else None,
                    )

            def describe(d: Device) -> dict[str, Any]:
                return {"id": d.id, "name": d.name, "type": d.device_type.slug, "address": d.address}

            def over_ssh(slug: str) -> bool:
                setup = known[slug].window_setup if slug in known else None
                return setup is not None and (
                    setup.configure is not None or setup.verify in ("consoles_in_config", "reachable")
                )

            hosts = {}
            for slug, group in by_type.items():
                if not over_ssh(slug):
                    continue
                for device in group:
                    try:
                        hosts[device.id] = playbook_service.inventory_host(
                            db, self.runtime.box, device, settings
                        )
                    except DomainError as exc:
                        raise StepFailed(exc.message) from exc
            configured = {
                t.slug for t in types if t.window_setup is not None and t.window_setup.configure is not None
            }
            binding = Binding(
                types,
                {slug: [describe(d) for d in group] for slug, group in by_type.items() if slug in known},
                [describe(d) for t, ds in sorted(by_type.items()) if t not in configured for d in ds],
                hosts,
            )
        self._record_step(ref.id, "bind", digest=digest(binding.public()))
        self._outputs(ref.id, devices=binding.public())
        return binding

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

    def _step_verify(self, ctx: JobContext, ref: WindowRef, binding: Binding) -> str:
        info = self.backend.status(ref.number)
        if info is None:
            raise StepFailed(f"window {ref.number}: the hall stack has no seat for this window")
        stopped = [info.desktops[s] for s in ("gov", "internet") if not info.running.get(s)]
        if stopped:
            raise StepFailed(f"desktop(s) {', '.join(stopped)} not running")
        settings = self.runtime.settings
        problems: list[str] = []
        checks = {t.slug: t for t in binding.types}

        def check(device: dict[str, Any]) -> str | None:
            spec = checks[device["type"]]
            assert spec.window_setup is not None
            with self.runtime.session_factory() as db:
                row = db.get(Device, device["id"])
                if row is None:
                    return f"{device['name']}: deleted from the inventory"
                target = target_for(db, self.runtime.box, row, settings)
            command = "true"
            config_file = spec.ssh.config_files[0] if spec.ssh and spec.ssh.config_files else ""
            reads_config = spec.window_setup.verify == "consoles_in_config"
            if reads_config:
                command = f"cat {settings.device_root(device['name'])}{config_file}"
            try:
                result = run_command(
                    target, command, timeout=20, connect_timeout=settings.ssh_connect_timeout_s
                )
            except SshError as exc:
                return exc.message
            if result.exit_status != 0:
                return (
                    f"{device['name']}: '{command}' exited with {result.exit_status}: {result.stderr.strip()}"
                )
            if reads_config:
                config = yaml.safe_load(result.stdout) or {}
                have = {
                    (p.get("network"), p.get("host"), p.get("port")) for p in config.get("profiles") or []
                }
                want = {(c.network, c.host, c.port) for c in info.consoles}
                if not want <= have:
                    missing = ", ".join(f"{n} {h}:{p}" for n, h, p in sorted(want - have))
                    return (
                        f"{device['name']}: {_label(spec.slug)} config does not name console(s) {missing}; "
                        "run the setup again to re-apply it"
                    )
            return None

        over_ssh = [
            d
            for t in binding.types
            if t.window_setup is not None and t.window_setup.verify in ("consoles_in_config", "reachable")
            for d in binding.devices.get(t.slug, [])
        ]
        polled = [d for d in binding.peripherals if d not in over_ssh]
        with ThreadPoolExecutor(max_workers=max(1, min(settings.ssh_concurrency, len(over_ssh)))) as pool:
            problems.extend(p for p in pool.map(check, over_ssh) if p)
        with self.runtime.session_factory() as db:
            for device in polled:
                row = db.get(Device, device["id"])
                if row is not None and row.oper_status == "down":
                    problems.append(f"{row.name}: down ({row.last_error or 'no answer to polling'})")
        if problems:
            raise StepFailed("; ".join(problems))
        with_config = [
            _label(t.slug)
            for t in binding.types
            if t.window_setup is not None and t.window_setup.verify == "consoles_in_config"
        ]
        ctx.log(
            f"window {ref.number}: desktops {', '.join(info.desktops.values())} running; "
            f"{' and '.join(with_config) or 'no device'} names "
            f"{', '.join(f'{c.network} {c.host}:{c.port}' for c in info.consoles)}"
        )
        in_place = "".join(f", {label} config in place" for label in with_config)
        return f"desktops running{in_place}, {len(over_ssh)} device(s) up"

    # --- the teardown job -----------------------------------------------------------------------------

    def _teardown(self, ctx: JobContext, ref: WindowRef) -> dict[str, Any]:
        def run_step(step: str) -> str:
            if step == "unconfigure":
                binding, missing = self._step_bind_quiet(ref)
                if binding is None:
                    return f"no {_label(missing)} bound: nothing to unconfigure"
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
                labels = [_label(t.slug) for t in binding.configured()]
                return f"{' and '.join(labels)} configuration removed"
            self.backend.remove(ref.number, on_output=lambda line: ctx.log(line.rstrip(), "output"))
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
