"""The console's REST API: the one interface of the CLI, the web console and scripts.

``create_app`` is its composition root: it opens the console's parts once
(``hmc/console.py``), keeps them in the app's state for the routers' dependency
(``depends.py``), and includes one router per resource, each in its own module here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
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


# Something the console runs along with its API (the SSH door), given the app.
Service = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(db_path: Path, name: str = "",
               first_admin: tuple[str, str] | None = None,
               services: Sequence[Service] = ()) -> FastAPI:
    """The console's API. ``first_admin`` (user, password) is made a super administrator
    unless that user exists: how a new console gets its first user. ``services`` run
    while the console does, started in order once it is, stopped in reverse."""
    console = Console.open(db_path, name, first_admin)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with console.running(), AsyncExitStack() as stack:
            for service in services:
                await stack.enter_async_context(service(app))
            yield

    # The API's description is served behind the guard (api_docs.py), not by FastAPI.
    app = FastAPI(title="openlpm HMC", version=__version__,
                  lifespan=lifespan, dependencies=[Depends(console.guard)],
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
