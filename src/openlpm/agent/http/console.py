"""A partition's console: the lines it wrote, and those it wrote on its source system
before it moved here."""

from __future__ import annotations

from fastapi import APIRouter

from openlpm.agent.http.state import Manager
from openlpm.model import ConsoleLine

router = APIRouter()


@router.get("/partitions/{name}/console")
async def console(name: str, manager: Manager, lines: int = 100) -> list[ConsoleLine]:
    return manager.console(name, lines)


@router.post("/partitions/{name}/console/final")
async def final_console(name: str, manager: Manager, lines: int = 100) -> list[ConsoleLine]:
    """The console of a partition that left by migration, every line it wrote here."""
    return await manager.final_console(name, lines)


@router.post("/partitions/{name}/console")
async def merge_console(name: str, history: list[ConsoleLine], manager: Manager) -> None:
    manager.merge_console(name, history)
