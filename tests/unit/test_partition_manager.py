"""A managed system keeps its partitions' profiles, resources and states consistent.

These cases never start QEMU: they cover what happens before and around it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from openlpm.agent.partitions import TRANSITIONS, Capacity, PartitionManager
from openlpm.agent.qemu import BootImage, QemuSettings
from openlpm.errors import InsufficientResources, ObjectExists, ObjectNotFound, WrongState
from openlpm.model import PartitionProfile, PartitionState

S = PartitionState


def manager(tmp_path: Path, memory_mb: int = 1024, cpus: int = 2) -> PartitionManager:
    settings = QemuSettings("qemu-system-x86_64", "tcg",
                            BootImage(Path("/k"), Path("/i"), "console=ttyS0"))
    return PartitionManager("sys1", tmp_path, Capacity(cpus, memory_mb), settings)


def profile(name: str, mem: int = 256, procs: int = 1, lpar_id: int | None = None) -> \
        PartitionProfile:
    return PartitionProfile(name=name, lpar_id=lpar_id, min_mem=64, desired_mem=mem,
                            max_mem=mem, min_procs=1, desired_procs=procs, max_procs=procs)


async def test_a_new_partition_is_not_activated_and_gets_the_first_free_id(
        tmp_path: Path) -> None:
    systems = manager(tmp_path)
    await systems.create(profile("a", lpar_id=1), None, running=False)
    created = await systems.create(profile("b"), None, running=False)
    assert created.state == S.NOT_ACTIVATED and created.lpar_id == 2
    assert not created.activated_once


async def test_names_and_ids_are_unique_on_a_system(tmp_path: Path) -> None:
    systems = manager(tmp_path)
    await systems.create(profile("a", lpar_id=3), None, running=False)
    with pytest.raises(ObjectExists, match="named a"):
        await systems.create(profile("a"), None, running=False)
    with pytest.raises(ObjectExists, match="id 3"):
        await systems.create(profile("b", lpar_id=3), None, running=False)


async def test_profiles_survive_a_restart_of_the_agent(tmp_path: Path) -> None:
    await manager(tmp_path).create(profile("a"), None, running=False)
    again = manager(tmp_path)
    await again.adopt_running()
    assert [p.name for p in again.partitions()] == ["a"]
    assert again.partition("a").state == S.NOT_ACTIVATED


async def test_an_incoming_running_partition_reserves_its_resources(tmp_path: Path) -> None:
    systems = manager(tmp_path, memory_mb=1024, cpus=2)
    incoming = await systems.create(profile("a", mem=768), "m1", running=True)
    assert incoming.state == S.MIGRATING_RUNNING and incoming.activated_once
    assert systems.free() == Capacity(cpus=1, memory_mb=256)
    with pytest.raises(InsufficientResources, match="256 MB"):
        await systems.create(profile("b", mem=512), "m2", running=True)
    assert not systems.store.exists("b")


async def test_an_incoming_inactive_partition_reserves_nothing(tmp_path: Path) -> None:
    systems = manager(tmp_path, memory_mb=512)
    incoming = await systems.create(profile("a", mem=2048), "m1", running=False)
    assert incoming.state == S.MIGRATING_NOT_ACTIVATED
    assert systems.free().memory_mb == 512
    finished = await systems.finish_incoming("a")
    assert finished.partition.state == S.NOT_ACTIVATED
    assert finished.resumed_at is None


async def test_an_outgoing_inactive_partition_is_migrating_until_released(
        tmp_path: Path) -> None:
    systems = manager(tmp_path)
    await systems.create(profile("a"), None, running=False)
    assert systems.mark_outgoing("a").state == S.MIGRATING_NOT_ACTIVATED
    with pytest.raises(WrongState, match="Migrating - Not Activated"):
        await systems.activate("a")
    assert systems.unmark_outgoing("a").state == S.NOT_ACTIVATED


async def test_activation_beyond_the_system_memory_is_refused_before_qemu_starts(
        tmp_path: Path) -> None:
    systems = manager(tmp_path, memory_mb=512)
    await systems.create(profile("a", mem=1024), None, running=False)
    with pytest.raises(InsufficientResources, match="sys1 has 512 MB"):
        await systems.activate("a")
    assert systems.partition("a").state == S.NOT_ACTIVATED


async def test_operations_on_an_unknown_partition_name_it(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound, match="ghost.*sys1"):
        await manager(tmp_path).activate("ghost")


async def test_removing_a_partition_leaves_no_file_behind(tmp_path: Path) -> None:
    systems = manager(tmp_path)
    await systems.create(profile("a"), None, running=False)
    await systems.remove("a")
    assert systems.partitions() == []
    assert [p.name for p in (tmp_path / "profiles").iterdir()] == []


def test_every_state_can_be_left_and_nothing_jumps_to_running_unchecked() -> None:
    assert set(TRANSITIONS) == set(PartitionState)
    assert all(TRANSITIONS[state] for state in PartitionState)
    assert S.RUNNING not in TRANSITIONS[S.NOT_ACTIVATED]


async def test_a_new_partition_gets_a_uuid_that_a_migration_brings_along(
        tmp_path: Path) -> None:
    systems = manager(tmp_path)
    created = await systems.create(profile("a"), None, running=False)
    assert created.profile.uuid is not None and created.uuid == created.profile.uuid
    qemu = systems._qemu("a").command(created.profile, incoming=False)
    assert qemu[qemu.index("-uuid") + 1] == created.uuid
    target = manager(tmp_path / "sys2")
    moved = await target.create(created.profile.model_copy(update={"lpar_id": None}), "m1",
                                running=False)
    assert moved.uuid == created.uuid
    # A partition from before UUIDs brings none, and its QEMU is started without one.
    older = await target.create(profile("b"), "m2", running=False)
    assert older.profile.uuid is None and "-uuid" not in target._qemu("b").command(
        older.profile, incoming=True)
