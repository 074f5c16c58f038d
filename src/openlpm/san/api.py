"""The SAN's control API: LUNs, mappings, and fabric logins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request

from openlpm import __version__
from openlpm.model import FabricCredentials, FabricLogin, Lun, LunCreate, LunMapping
from openlpm.san.keys import SanKeys
from openlpm.san.luns import San
from openlpm.service import LunIdentity, LunName, install_error_handlers


def create_app(san: San, keys: SanKeys) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Exports are processes of their own: they keep serving their LUNs while the
        # control API restarts, and are stopped only when a LUN is deleted.
        await san.start()
        yield

    async def guard(request: Request) -> None:
        keys.check(request.headers.get("authorization"), request.method,
                   request.scope["route"].path)

    app = FastAPI(title=f"openlpm SAN {san.name}", version=__version__, lifespan=lifespan,
                  dependencies=[Depends(guard)])
    install_error_handlers(app)

    @app.get("/luns")
    async def luns(visible_to: str | None = None) -> list[Lun]:
        return san.visible_to(visible_to) if visible_to else san.luns()

    @app.post("/luns", status_code=201)
    async def create(body: LunCreate) -> Lun:
        return await san.create(body)

    @app.get("/luns/{name}")
    async def lun(name: LunName) -> Lun:
        return san.lun(name)

    @app.delete("/luns/{name}", status_code=204)
    async def delete(name: LunName) -> None:
        await san.delete(name)

    @app.post("/luns/{name}/mappings")
    async def map_lun(name: LunName, mapping: LunMapping) -> Lun:
        return await san.map(name, mapping.identity)

    @app.delete("/luns/{name}/mappings/{identity}")
    async def unmap_lun(name: LunName, identity: LunIdentity) -> Lun:
        return await san.unmap(name, identity)

    @app.post("/logins")
    async def login(login: FabricLogin) -> FabricCredentials:
        return san.fabric.login(login)

    return app
