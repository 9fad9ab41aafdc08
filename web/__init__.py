"""The web pages: the staff console (`/console/`) and, later, the public's pages, on the same application layer
as the JSON API (api/service). Server-rendered Jinja2; htmx only saves round trips; every asset is served
from `/static/` (web/static/VENDORED.md), so nothing loads from another origin."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from web import security
from web.console import install as install_console
from web.public import install as install_public

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.add_middleware(security.SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_console(app)
    install_public(app)
