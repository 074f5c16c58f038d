"""The console's REST API: the one interface of the CLI, the web console and scripts.

``create_app`` is its composition root: it opens the console's parts once
(``hmc/console.py``), keeps them in the app's state for the routers' dependency
(``depends.py``), and includes one router per resource, each in its own module here.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI

from openlpm import __version__
from openlpm.hmc.access.guard import install_unrouted
from openlpm.hmc.console import Console
from openlpm.hmc.http import (
    api_docs,
    consoles,
    migrations,
    partitions,
    placement,
    san,
    sysconns,
    systems,
    users,
)
from openlpm.hmc.http.body_limit import MIB, BodyLimit
from openlpm.hmc.http.web import install_web_console
from openlpm.service import install_error_handlers

# The largest request body the console reads (anyone may send one, before signing in).
BODY_LIMIT = MIB
ROUTERS: tuple[APIRouter, ...] = (
    users.router, api_docs.router, san.router, consoles.keys, consoles.peer,
    systems.router, sysconns.router, partitions.router, migrations.router,
    placement.router)


def create_app(db_path: Path, name: str = "",
               first_admin: tuple[str, str] | None = None) -> FastAPI:
    """The console's API. ``first_admin`` (user, password) is made a super administrator
    unless that user exists: how a new console gets its first user."""
    console = Console.open(db_path, name, first_admin)
    # The API's description is served behind the guard (api_docs.py), not by FastAPI.
    app = FastAPI(title="openlpm HMC", version=__version__,
                  lifespan=lambda _: console.running(), dependencies=[Depends(console.guard)],
                  openapi_url=None, docs_url=None, redoc_url=None)
    app.state.console = console
    app.add_middleware(BodyLimit, limit=BODY_LIMIT, refused=lambda method, path:
                       console.audit.record("-", f"{method} {path}", "refused", "HSCLF517"))
    install_error_handlers(app)
    install_unrouted(app, console.guard)
    for router in ROUTERS:
        app.include_router(router)
    install_web_console(app)
    return app
