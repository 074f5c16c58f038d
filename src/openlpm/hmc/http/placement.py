"""The console's pages for placing partitions: evacuating a system, balancing the site."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from openlpm.hmc.http.depends import ConsoleDep
from openlpm.model import BalancePlan, BalanceRequest, EvacuationPlan

router = APIRouter()


class EvacuationRequest(BaseModel):
    """``openlpm evacuate``: the targets to use (default: every other system)."""

    targets: list[str] = []
    dry_run: bool = False


@router.post("/systems/{system}/evacuation")
async def evacuate(hmc: ConsoleDep, system: str, body: EvacuationRequest) -> EvacuationPlan:
    """``openlpm evacuate``: put the system in maintenance and migrate each of its
    partitions to a target that passes validation for it; with ``dry_run``, only the
    plan. Answers the plan, with each started migration's id."""
    if body.dry_run:
        return await hmc.evacuation.plan(system, body.targets)
    return await hmc.evacuation.run(system, body.targets)


@router.post("/balance")
async def balance(hmc: ConsoleDep, request: BalanceRequest) -> BalancePlan:
    """``openlpm balance``: the moves that lower the spread of load across systems,
    each validated; started unless ``dry_run``."""
    return await hmc.balancer.run(request)
