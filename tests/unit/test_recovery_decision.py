"""Where recovery leaves a partition: the commit point, read from what both systems hold."""

from __future__ import annotations

from typing import Any

import pytest

from openlpm.errors import SystemUnreachable
from openlpm.hmc.mobility.recover import SideView, on_target
from openlpm.model import PartitionRuntime, PartitionState

S = PartitionState


def side(system: str, state: PartitionState | None = None, **runtime: Any) -> SideView:
    view = None if state is None else PartitionRuntime(name="p", state=state, **runtime)
    return SideView(system, agent=None, runtime=view)  # type: ignore[arg-type]


def silent(system: str) -> SideView:
    return SideView(system, agent=None, runtime=None,  # type: ignore[arg-type]
                    error=SystemUnreachable("no answer"))


SENDING = side("sys1", S.MIGRATING_RUNNING, qemu_status="running", migration_status="active")
SENT = side("sys1", S.MIGRATING_RUNNING, qemu_status="postmigrate",
            migration_status="completed")
RECEIVING = side("sys2", S.MIGRATING_RUNNING, qemu_status="inmigrate", incoming_migration="m1")
RESUMED = side("sys2", S.MIGRATING_RUNNING, qemu_status="running", incoming_migration="m1")


@pytest.mark.parametrize(("source", "target", "lives_on_target"), [
    pytest.param(SENDING, RECEIVING, False, id="stream under way: the source keeps it"),
    pytest.param(SENDING, side("sys2"), False, id="target never made: source"),
    pytest.param(SENT, RESUMED, True, id="target guest runs: target"),
    pytest.param(side("sys1"), RESUMED, True, id="source copy gone: target"),
    pytest.param(SENT, side("sys2", S.MIGRATING_RUNNING, incoming_migration="m1"), False,
                 id="all sent but the target QEMU died: the source resumes it"),
    pytest.param(SENT, side("sys2", S.MIGRATING_RUNNING, qemu_status="paused",
                            incoming_migration="m1"), True,
                 id="all sent and held by a paused target: target"),
    pytest.param(side("sys1", S.RUNNING, qemu_status="running"), RECEIVING, False,
                 id="source already took it back: source"),
    pytest.param(side("sys1", S.MIGRATING_NOT_ACTIVATED),
                 side("sys2", S.MIGRATING_NOT_ACTIVATED, incoming_migration="m1"), False,
                 id="inactive, target not finished: source"),
    pytest.param(side("sys1", S.MIGRATING_NOT_ACTIVATED), side("sys2", S.NOT_ACTIVATED),
                 True, id="inactive, target finished (step 5): target"),
    pytest.param(silent("sys1"), RECEIVING, False,
                 id="--force, source silent, target guest not running: source"),
    pytest.param(silent("sys1"), RESUMED, True,
                 id="--force, source silent, target guest runs: target"),
    pytest.param(SENDING, silent("sys2"), False, id="--force, target silent: source"),
    pytest.param(side("sys1", S.MIGRATING_RUNNING, qemu_status="postmigrate",
                      migration_status="postcopy-active"), RECEIVING, True,
                 id="post-copy began: target, whatever its guest does now"),
])
def test_recovery_decides_where_the_partition_lives(source: SideView, target: SideView,
                                                    lives_on_target: bool) -> None:
    assert on_target(source, target) is lives_on_target
