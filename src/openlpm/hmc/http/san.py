"""The console's SAN pages: LUNs and their mappings, passed on to the site's SAN.

The console is the one place an administrator works from, as on the HMC; the SAN's own
API stays on the storage network with the agents.
"""

from __future__ import annotations

from fastapi import APIRouter

from openlpm.hmc.http.depends import ConsoleDep
from openlpm.model import Lun, LunCreate, LunMapping
from openlpm.service import LunIdentity, LunName

router = APIRouter(prefix="/san")


@router.get("/luns")
async def luns(hmc: ConsoleDep) -> list[Lun]:
    return await hmc.site.san.luns()


@router.post("/luns", status_code=201)
async def create(hmc: ConsoleDep, body: LunCreate) -> Lun:
    return await hmc.site.san.create(body)


@router.delete("/luns/{name}", status_code=204)
async def delete(hmc: ConsoleDep, name: LunName) -> None:
    await hmc.site.san.delete(name)


@router.post("/luns/{name}/mappings")
async def map_lun(hmc: ConsoleDep, name: LunName, body: LunMapping) -> Lun:
    return await hmc.site.san.map(name, body.identity)


@router.delete("/luns/{name}/mappings/{identity}")
async def unmap_lun(hmc: ConsoleDep, name: LunName, identity: LunIdentity) -> Lun:
    return await hmc.site.san.unmap(name, identity)
