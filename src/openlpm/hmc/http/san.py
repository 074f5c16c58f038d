"""The console's SAN pages: LUNs and their mappings, passed on to the site's SAN.

The console is the one place an administrator works from, as on the HMC; the SAN's own
API stays on the storage network with the agents.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from openlpm.hmc.site.systems import Site
from openlpm.model import Lun, LunCreate, LunMapping
from openlpm.service import LunIdentity, LunName


def install_san_api(app: FastAPI, site: Site) -> None:
    router = APIRouter(prefix="/san")

    @router.get("/luns")
    async def luns() -> list[Lun]:
        return await site.san.luns()

    @router.post("/luns", status_code=201)
    async def create(body: LunCreate) -> Lun:
        return await site.san.create(body)

    @router.delete("/luns/{name}", status_code=204)
    async def delete(name: LunName) -> None:
        await site.san.delete(name)

    @router.post("/luns/{name}/mappings")
    async def map_lun(name: LunName, body: LunMapping) -> Lun:
        return await site.san.map(name, body.identity)

    @router.delete("/luns/{name}/mappings/{identity}")
    async def unmap_lun(name: LunName, identity: LunIdentity) -> Lun:
        return await site.san.unmap(name, identity)

    app.include_router(router)
