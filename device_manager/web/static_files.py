"""The files of the web pages: the dashboard's HTML, JS and CSS (``static/``), Debian's noVNC for the
seat pages (``Settings.novnc_dir``) and the i18n catalogs, never a path outside their directories."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from device_manager.i18n import LANGUAGES, catalog

__all__ = ["NO_STORE", "STATIC_DIR", "file_under", "router"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(include_in_schema=False)


def file_under(base: Path, relative: str) -> Path:
    """``base/relative`` when it is a file inside ``base``; 404 otherwise."""
    path = (base / relative).resolve()
    if not path.is_relative_to(base.resolve()) or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return path


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui/")
def dashboard_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "dashboard.html", headers=NO_STORE)


@router.get("/ui/static/{path:path}")
def static_file(path: str) -> FileResponse:
    return FileResponse(file_under(STATIC_DIR, path), headers=NO_STORE)


@router.get("/ui/novnc/{path:path}")
def novnc_file(request: Request, path: str) -> FileResponse:
    novnc: Path = request.app.state.settings.novnc_dir
    if not novnc.is_dir():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"noVNC is not installed at {novnc}; install Debian's novnc or set HALLCLOUD_NOVNC_DIR",
        )
    return FileResponse(file_under(novnc, path))


@router.get("/ui/i18n/{language}.json")
def i18n_catalog(language: str) -> JSONResponse:
    if language not in LANGUAGES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"language {language!r}; offered: {list(LANGUAGES)}")
    return JSONResponse(catalog(language))
