"""The listing commands' views of the console's answers (clients/console_views.py) keep
their models' fields under the same names and defaults, read what the console sends as
the models read it, and refuse a value of another type."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from openlpm import model
from openlpm.clients import console_views as views
from openlpm.model import (
    MigrationState,
    MoverInfo,
    Partition,
    PartitionProfile,
    PartitionState,
    PartitionSummary,
    SystemInfo,
    SystemSummary,
    VirtualEthernetAdapter,
    VirtualFcAdapter,
    VirtualScsiAdapter,
)

MODELS: list[tuple[type[Any], type[BaseModel]]] = [
    (views.MoverInfoView, model.MoverInfo), (views.SystemInfoView, model.SystemInfo),
    (views.SystemSummaryView, model.SystemSummary),
    (views.VirtualEthernetAdapterView, model.VirtualEthernetAdapter),
    (views.VirtualFcAdapterView, model.VirtualFcAdapter),
    (views.VirtualScsiAdapterView, model.VirtualScsiAdapter),
    (views.PartitionProfileView, model.PartitionProfile),
    (views.PartitionView, model.Partition), (views.PartitionSummaryView, model.PartitionSummary),
    (views.FindingView, model.Finding), (views.CheckResultView, model.CheckResult),
    (views.ValidationReportView, model.ValidationReport),
    (views.MigrationRoundView, model.MigrationRound),
    (views.MigrationRecordView, model.MigrationRecord),
    (views.JournalEntryView, model.JournalEntry),
]
PROFILE = PartitionProfile(
    name="db1", lpar_id=7, min_mem=256, desired_mem=512, max_mem=1024, min_procs=1,
    desired_procs=2, max_procs=4, proc_compat_mode="Skylake-Server", migration_disabled=True,
    kernel_args="console=ttyS0", boot_device_slot=4, disks=("/srv/a.img",),
    networks=("user",), virtual_eth_adapters=(VirtualEthernetAdapter(slot=2, port_vlan_id=10),),
    virtual_fc_adapters=(VirtualFcAdapter(slot=4, wwpns=("c0507600000000a0",
                                                          "c0507600000000a1"), io_service=2),),
    virtual_scsi_adapters=(VirtualScsiAdapter(slot=5, luns=("l1", "l2")),))
SUMMARY = PartitionSummary(system="sys1", partition=Partition(
    profile=PROFILE, state=PartitionState.MIGRATING_RUNNING, curr_mem=512, curr_procs=2,
    os_version="Linux/Debian 6.1.0 12"), migration_state=MigrationState.IN_PROGRESS)


@pytest.mark.parametrize(("view", "model_"), MODELS, ids=[m.__name__ for _, m in MODELS])
def test_a_view_keeps_its_model_s_fields_names_and_defaults(view: type[Any],
                                                            model_: type[BaseModel]) -> None:
    for name in view._fields:
        assert name in model_.model_fields, f"{model_.__name__} has no {name}"
        if name in view._field_defaults:
            assert view._field_defaults[name] == model_.model_fields[name].get_default(), name
        else:
            assert model_.model_fields[name].is_required(), name


def test_a_partition_reads_as_its_model_reads_it() -> None:
    read = views.read(views.PartitionSummaryView, SUMMARY.model_dump(mode="json"))
    p, expected = read.partition, SUMMARY.partition
    assert (p.name, p.lpar_id, p.uuid, p.state, p.os_version) == (
        expected.name, expected.lpar_id, expected.uuid, expected.state, expected.os_version)
    assert read.migration_state == SUMMARY.migration_state
    for name in views.PartitionProfileView._fields:
        value, wanted = getattr(p.profile, name), getattr(expected.profile, name)
        if name.startswith("virtual_"):
            wanted = tuple({k: getattr(a, k) for k in got._fields} for a, got in
                           zip(wanted, value, strict=True))
            value = tuple(a._asdict() for a in value)
        assert value == wanted, name


def test_a_system_reads_as_its_model_reads_it() -> None:
    info = SystemInfo(name="sys1", cpus=4, memory_mb=2048, free_cpus=3, free_memory_mb=1024,
                      accel="tcg", qemu_version="7.2", agent_version="0.2.0",
                      maintenance=True, io_services=2, movers=(MoverInfo(
                          name="sys1-msp1", control_url="https://a:1", data_address="a:2"),))
    system = SystemSummary(name="sys1", state="Operating", agent_url="https://a:1", info=info)
    read = views.read(views.SystemSummaryView, system.model_dump(mode="json"))
    assert read.info is not None and [m.name for m in read.info.movers] == ["sys1-msp1"]
    assert (read.info.maintenance, read.info.io_services, read.info.free_cpus) == (True, 2, 3)
    unreachable = views.read(views.SystemSummaryView, system.model_copy(
        update={"info": None, "state": "No Connection"}).model_dump(mode="json"))
    assert (unreachable.info, unreachable.state) == (None, "No Connection")


@pytest.mark.parametrize(("change", "says"), [
    ({"state": "Sleeping"}, "partition.state is not one of the names of PartitionState"),
    ({"curr_mem": True}, "partition.curr_mem is bool, not int"),
    ({"curr_mem": "512"}, "partition.curr_mem is str, not int"),
    ({"os_version": 12}, "partition.os_version is int, not str"),
    ({"profile": {"name": "x"}}, "partition.profile has no min_mem"),
    ({"profile": PROFILE.model_dump(mode="json") | {"disks": "/srv/a.img"}},
     "partition.profile.disks is not a list"),
    ({"profile": PROFILE.model_dump(mode="json") | {"virtual_fc_adapters": [
        {"slot": 4, "wwpns": ["c0507600000000a0"]}]}},
     "virtual_fc_adapters[0].wwpns does not have 2 items"),
])
def test_a_value_of_another_type_is_refused_naming_it(change: dict[str, object],
                                                      says: str) -> None:
    answer = SUMMARY.model_dump(mode="json")
    answer["partition"] |= change
    with pytest.raises(views.AnswerInvalid, match=says.replace("[", r"\[").replace("]", r"\]")):
        views.read(views.PartitionSummaryView, answer)
    with pytest.raises(views.AnswerInvalid, match="is not a list"):
        views.read_list(views.PartitionSummaryView, {"not": "a list"})
