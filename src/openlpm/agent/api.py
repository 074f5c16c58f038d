"""The agent's REST API: one managed system, as the console sees it.

The routes are in ``openlpm.agent.http`` by resource; this puts them together with the
agent's state, its start and stop, its errors and its enrollment. The contract the
console's client keeps with them is ``openlpm.clients.agent.AgentRoutes``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from openlpm import __version__
from openlpm.agent.cpu_models import cpu_models
from openlpm.agent.http import console, migration, partitions, san, system
from openlpm.agent.http.state import AgentState, MigrationLimits, attach
from openlpm.agent.partitions import PartitionManager
from openlpm.agent.utilization import UtilizationSampler
from openlpm.service import install_error_handlers
from openlpm.trust import ServiceTrust, install_enrollment

__all__ = ["MigrationLimits", "create_app"]
DEFAULT_LIMITS = MigrationLimits()


def create_app(manager: PartitionManager, accel: str, qemu_version: str,
               mover_socket: Path | None, limits: MigrationLimits = DEFAULT_LIMITS,
               trust: ServiceTrust | None = None) -> FastAPI:
    state = AgentState(manager, accel, qemu_version, mover_socket, limits,
                       UtilizationSampler(manager.qemu_pids))
    app = FastAPI(title="openlpm agent", version=__version__, lifespan=_lifespan(state))
    install_error_handlers(app)
    if trust is not None:
        install_enrollment(app, trust)
    attach(app, state)
    for part in (system, partitions, migration, console, san):
        app.include_router(part.router)
    return app


def _lifespan(state: AgentState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    manager = state.manager

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manager.switch is not None:
            await manager.switch.start()
        await manager.adopt_running()
        # Validation asks for the CPU models; asking QEMU now keeps that off its path.
        warm = asyncio.create_task(cpu_models(manager.qemu_settings.binary, state.accel))
        sampling = asyncio.create_task(state.sampler.run())
        yield
        warm.cancel()
        sampling.cancel()
        await manager.close()

    return lifespan
