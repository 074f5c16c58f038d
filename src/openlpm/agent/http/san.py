"""The system's SAN: where it is and how to prove the system to it, as its console says."""

from __future__ import annotations

from fastapi import APIRouter

from openlpm.agent.http.state import Manager
from openlpm.model import SanSettings

router = APIRouter()


@router.put("/san", status_code=204)
async def give_san(manager: Manager, body: SanSettings) -> None:
    """The console's SAN (its address, the hosts key, the authority that certified it):
    fabric logins and LUN lookups go there from now on."""
    await manager.storage.use(body)
