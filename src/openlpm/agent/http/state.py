"""What the agent's routes share, given to them as FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, cast

from fastapi import Depends, FastAPI, Request

from openlpm.agent.partitions import PartitionManager
from openlpm.agent.utilization import UtilizationSampler


@dataclass(frozen=True)
class MigrationLimits:
    active: int = 16
    inactive: int = 16


@dataclass(frozen=True)
class AgentState:
    """One managed system: its partitions, how it runs them, its mover's local socket."""

    manager: PartitionManager
    accel: str
    qemu_version: str
    mover_socket: Path | None
    limits: MigrationLimits
    sampler: UtilizationSampler


def attach(app: FastAPI, state: AgentState) -> None:
    app.state.agent = state


def agent_state(request: Request) -> AgentState:
    return cast(AgentState, request.app.state.agent)


def partition_manager(request: Request) -> PartitionManager:
    return agent_state(request).manager


Agent = Annotated[AgentState, Depends(agent_state)]
Manager = Annotated[PartitionManager, Depends(partition_manager)]
