"""``hall serve`` and ``hall admin``: the device manager's commands (mounted by ``hall.py``)."""

from __future__ import annotations

import click

from device_manager.core.config import Settings
from device_manager.core.security import ROLES

__all__ = ["admin", "serve"]


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command(help="Run the device manager API (OpenAPI docs at /docs).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-polling", is_flag=True, help="serve the API without the SNMP polling loop")
def serve(host: str, port: int, no_polling: bool) -> None:
    import uvicorn

    from device_manager.main import create_app

    settings = _settings()
    if no_polling:
        settings = settings.model_copy(update={"polling_enabled": False})
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@click.group(help="Administration: API tokens and the database schema.")
def admin() -> None:
    pass


@admin.command(help="Apply database migrations up to the newest schema.")
def migrate() -> None:
    from device_manager.db import migrate as db_migrate
    from device_manager.db.session import make_engine

    settings = _settings()
    engine = make_engine(settings.sqlalchemy_url)
    try:
        db_migrate.upgrade(engine)
        click.echo(f"database at revision {db_migrate.current_revision(engine)}")
    finally:
        engine.dispose()


@admin.command("create-token", help="Issue an API token and print it once (only its hash is stored).")
@click.option("--name", default="bootstrap", show_default=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--site", "sites", multiple=True, help="site slug the token is limited to (repeatable)")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=90, show_default=True)
def create_token(name: str, role: str, sites: tuple[str, ...], expires_days: int) -> None:
    from sqlalchemy import select

    from device_manager.core.security import issue_token
    from device_manager.db import migrate as db_migrate
    from device_manager.db.models import Site
    from device_manager.db.session import make_engine, make_session_factory

    settings = _settings()
    engine = make_engine(settings.sqlalchemy_url)
    try:
        db_migrate.upgrade(engine)
        with make_session_factory(engine)() as db:
            site_ids = None
            if sites:
                found = {s.slug: s.id for s in db.scalars(select(Site).where(Site.slug.in_(sites)))}
                missing = sorted(set(sites) - set(found))
                if missing:
                    raise click.ClickException(f"unknown site(s): {', '.join(missing)}")
                site_ids = sorted(found.values())
            row, token = issue_token(
                db,
                settings.secret_key.get_secret_value(),
                name=name,
                role=role,
                site_ids=site_ids,
                expires_days=expires_days,
                created_by="hall admin create-token",
            )
            db.commit()
    finally:
        engine.dispose()
    click.echo(token)
    click.echo(
        f"token {row.id} '{name}' role {role}, expires {row.expires_at:%Y-%m-%d}; shown only once", err=True
    )
