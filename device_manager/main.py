"""Assembles the device manager: settings, database, middleware, routers and metrics; the lifespan
migrates, syncs the registries into the database (``services/seeds.py``) and starts the runtime (jobs,
polling, traps, console proxies: ``runtime.py``), and shuts it down. Nothing else lives here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from device_manager.api.middleware import AuditMiddleware, BodySizeLimitMiddleware, RateLimitMiddleware
from device_manager.api.routes import api_router
from device_manager.api.routes import jobs as jobs_routes
from device_manager.api.routes import ssh as ssh_routes
from device_manager.api.routes import window_setup as window_setup_routes
from device_manager.core.config import Settings
from device_manager.core.metrics import Metrics
from device_manager.core.ratelimit import TokenBuckets
from device_manager.core.secrets import SecretBox, load_master_key
from device_manager.db import migrate
from device_manager.db.session import make_engine, make_session_factory
from device_manager.errors import DomainError
from device_manager.runtime import Runtime
from device_manager.services import seeds
from device_manager.services.alerts import AlertEngine
from device_manager.services.notifier import WebhookNotifier
from device_manager.services.polling import PollerLike, PollingService
from device_manager.web.routes import router as web_router

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _field_errors(exc: RequestValidationError) -> dict[str, list[str]]:
    """Validation errors keyed by field ('address', 'tags.2'); never echo the input (it may be a secret)."""
    errors: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        if len(loc) > 1 and loc[0] in ("snmp_v2c", "snmp_v3", "ssh"):  # discriminated union tag
            loc = loc[1:]
        key = ".".join(loc) or "body"
        errors.setdefault(key, []).append(str(err.get("msg", "invalid")))
    return errors


def create_app(
    settings: Settings | None = None, *, poller: PollerLike | None = None, run_background: bool = True
) -> FastAPI:
    settings = settings or Settings()
    settings.prepare_data_dir()
    engine = make_engine(settings.sqlalchemy_url)
    session_factory = make_session_factory(engine)
    box = SecretBox(load_master_key(settings))
    metrics = Metrics(session_factory)
    alert_engine = AlertEngine()
    notifier = WebhookNotifier(
        settings.webhook_urls,
        secret=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
        retries=settings.webhook_retries,
        timeout_s=settings.webhook_timeout_s,
        backoff_s=settings.webhook_backoff_s,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_startup:
            await asyncio.to_thread(migrate.upgrade, engine)
        report = await asyncio.to_thread(seeds.sync, session_factory)
        if report.device_types or report.alert_rules:
            log.info(
                "seeded device types %s, default alert rules %s", report.device_types, report.alert_rules
            )
        runtime = await Runtime.start(
            settings,
            session_factory,
            box,
            app.state.polling,
            seats=getattr(app.state, "seats", None),
            background=run_background,
        )
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()
            engine.dispose()

    app = FastAPI(
        title=settings.project_name,
        version="0.1.0",
        openapi_url=f"{settings.api_v1_prefix}/openapi.json",
        docs_url="/docs",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.secret_box = box
    app.state.metrics = metrics
    app.state.alert_engine = alert_engine
    app.state.polling = PollingService(
        session_factory,
        box,
        poller,
        interval_s=settings.poll_interval_s,
        history_samples=settings.metric_history_samples,
        notifier=notifier,
        metrics=metrics,
        engine=alert_engine,
    )
    app.state.rate_limits = TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.auth_failures = TokenBuckets(
        settings.auth_failure_limit_per_minute, settings.auth_failure_burst
    )

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "errors": exc.errors}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        return JSONResponse({"detail": "validation failed", "errors": errors}, status_code=422)

    app.include_router(api_router, prefix=settings.api_v1_prefix)
    app.include_router(web_router)  # dashboard /ui/ and seat pages /seat/<name>
    app.include_router(ssh_routes.router, prefix=settings.api_v1_prefix)
    app.include_router(jobs_routes.router, prefix=settings.api_v1_prefix)
    app.include_router(window_setup_routes.router, prefix=settings.api_v1_prefix)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # added last = outermost: rate limit, then body size, then audit
    app.add_middleware(AuditMiddleware, session_factory=session_factory, prefix=settings.api_v1_prefix)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RateLimitMiddleware, general=app.state.rate_limits, auth_failures=app.state.auth_failures
    )
    return app
