"""The SAN's control API: LUNs, mappings, and fabric logins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request

from openlpm import __version__
from openlpm.model import (
    FabricCredentials,
    FabricLogin,
    HostsKey,
    Lun,
    LunCreate,
    LunMapping,
    SanInfo,
)
from openlpm.san.keys import SanGuard
from openlpm.san.luns import San
from openlpm.service import (
    LunIdentity,
    LunName,
    client_certificate,
    install_error_handlers,
)
from openlpm.trust import ENROLLMENT_PATH, ServiceTrust, install_enrollment


def create_app(san: San, guard: SanGuard | None, trust: ServiceTrust | None = None) \
        -> FastAPI:
    """The SAN's API; without ``guard`` and ``trust`` (``--insecure``) it answers anyone.
    With them it answers its enrollment only until a console enrolls it, then that
    console (by its client certificate) and the holders of the hosts key (their calls)."""
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Exports are processes of their own: they keep serving their LUNs while the
        # control API restarts, and are stopped only when a LUN is deleted.
        await san.start()
        yield

    async def allowed(request: Request) -> None:
        path = request.scope["route"].path
        if guard is not None and path != ENROLLMENT_PATH:
            guard.check(client_certificate(request.scope),
                        request.headers.get("authorization"), request.method, path)

    # No schema or docs pages: they sit outside the guard, and the SAN's TLS lets in
    # clients without a certificate (its systems, with the hosts key).
    app = FastAPI(title=f"openlpm SAN {san.name}", version=__version__, lifespan=lifespan,
                  dependencies=[Depends(allowed)], openapi_url=None, docs_url=None,
                  redoc_url=None)
    install_error_handlers(app)
    if trust is not None:
        install_enrollment(app, trust)

    @app.get("/info")
    async def info() -> SanInfo:
        return SanInfo(name=san.name, version=__version__)

    @app.get("/keys/hosts")
    async def hosts_key() -> HostsKey:
        """The key the console hands to its systems' agents."""
        return HostsKey(key=guard.hosts_key if guard is not None else None)

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
