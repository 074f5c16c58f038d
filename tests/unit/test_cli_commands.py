"""The HMC-compatible commands parse the HMC's syntax and refuse bad input clearly."""

from __future__ import annotations

import pytest

from openlpm.cli import commands, lssyscfg
from openlpm.clients.console_views import PartitionSummaryView, read
from openlpm.errors import RequestInvalid
from openlpm.model import (
    MigrationKind,
    MigrationRecord,
    MigrationState,
    Partition,
    PartitionProfile,
    PartitionState,
    PartitionSummary,
    SystemInfo,
    VirtualEthernetAdapter,
)

REAL_WORLD = ["-o", "m", "-m", "wilma", "-t", "visa", "-p", "upt07", "--redundantpgvios", "0",
              "-n", "upt07_noams_npiv", "-u", "hscroot", "--vlanbridge", "2", "--mpio", "2",
              "-w", "60", "-d", "5", "-v", "-i", "source_msp_name=wilmav2,dest_msp_name=visav2",
              "--ip", "destiny4"]


def view(summary_: PartitionSummary) -> PartitionSummaryView:
    """The partition as lssyscfg reads it: from the console's JSON."""
    return read(PartitionSummaryView, summary_.model_dump(mode="json"))


def migrlpar_args(*argv: str) -> commands.argparse.Namespace:
    return commands.migrlpar_parser().parse_args(list(argv))


def request_of(*argv: str) -> commands.MigrationRequest:
    requests = commands.migration_requests(migrlpar_args(*argv), [])
    assert len(requests) == 1
    return requests[0]


def test_migrlpar_builds_the_request_the_api_takes() -> None:
    request = request_of("-o", "m", "-m", "sys1", "-t", "sys2", "-p", "web1", "-n", "moved",
                         "-w", "5", "-i", "dest_lpar_id=7,source_msp_name=msp1")
    assert (request.source, request.target, request.partition) == ("sys1", "sys2", "web1")
    assert request.dest_profile_name == "moved" and request.wait_minutes == 5
    assert request.dest_lpar_id == 7 and request.source_msp_name == "msp1"


def test_a_real_world_hmc_command_line_parses_with_its_meaning() -> None:
    request = request_of(*REAL_WORLD)
    assert (request.source, request.target, request.partition) == ("wilma", "visa", "upt07")
    assert request.dest_profile_name == "upt07_noams_npiv" and request.wait_minutes == 60
    assert (request.source_msp_name, request.dest_msp_name) == ("wilmav2", "visav2")
    assert (request.remote_hmc, request.remote_user) == ("destiny4", "hscroot")
    assert (request.vlan_bridge, request.mpio) == (2, 2)


@pytest.mark.parametrize("flags", [
    ["--redundantvios", "1"], ["--vsi", "2"], ["--uuid", "1"], ["--protectstorage", "1"],
    ["--npivval", "portdisk"], ["--requirerr", "2"], ["--redundantvnicbkdev", "1"],
    ["--vniccfg", "2"], ["--redundantmsps", "2"], ["--affinity"], ["--usecurrdata"],
    ["--migsriov", "1"], ["--steps", "1"], ["--redundantpgvios", "0"], ["--nodetails"],
    ["--async"], ["--force"],
])
def test_every_hmc_flag_of_migrlpar_parses(flags: list[str]) -> None:
    request_of("-o", "m", "-m", "a", "-t", "b", "-p", "p", *flags)


def test_flags_without_effect_say_why_in_help() -> None:
    text = commands.migrlpar_parser().format_help()
    for flag in commands.NO_EFFECT:
        assert flag in text
    assert text.count("accepted, no effect") == len(commands.NO_EFFECT)


def test_required_redundant_mover_pairs_are_refused() -> None:
    with pytest.raises(RequestInvalid, match="redundantmsps") as caught:
        request_of("-o", "m", "-m", "a", "-t", "b", "-p", "p", "--redundantmsps", "1")
    assert caught.value.code == "HSCLF014"


def test_adapter_mappings_take_the_hmc_syntax_with_io_service_numbers() -> None:
    request = request_of("-o", "m", "-m", "sys1", "-t", "sys2", "-p", "db2", "-i",
                         '"virtual_scsi_mappings=3//2,2//1","virtual_fc_mappings=4//2//"')
    assert [(m.slot, m.io_service) for m in request.virtual_scsi_mappings] == [(3, 2), (2, 1)]
    assert [(m.slot, m.io_service) for m in request.virtual_fc_mappings] == [(4, 2)]


def test_adapter_mappings_take_the_hmc_full_form_with_the_vios_named_or_numbered() -> None:
    request = request_of("-o", "m", "-m", "sys1", "-t", "sys2", "-p", "db2", "-i",
                         '"virtual_fc_mappings=4/vios2/2/14/fcs0,5//1//fcs1,6/vios1/",'
                         '"virtual_scsi_mappings=12/vios2//16,13//1"')
    assert [(m.slot, m.io_service) for m in request.virtual_fc_mappings] == [
        (4, 2), (5, 1), (6, 1)]
    assert [(m.slot, m.io_service) for m in request.virtual_scsi_mappings] == [
        (12, 2), (13, 1)]


@pytest.mark.parametrize(("mapping", "says"), [
    ("virtual_fc_mappings=4/vios2/1", "VIOS vios2 is I/O service 2, not 1"),
    ("virtual_scsi_mappings=12/p9vios1//", "named vios1 to vios9"),
    ("virtual_fc_mappings=4//one", "not 'one'"),
    ("virtual_scsi_mappings=3//", "not SLOT/VIOS_NAME/VIOS_ID"),
    ("virtual_scsi_mappings=3//1/16/fcs0", r"\[/VIOS_SLOT\] "),
    ("virtual_fc_mappings=4//1/x", "not SLOT/VIOS_NAME/VIOS_ID"),
    ("virtual_scsi_mappings=3/2", "not SLOT/VIOS_NAME/VIOS_ID"),
    ("virtual_scsi_mappings=3//0", "io_service"),
])
def test_an_adapter_mapping_openlpm_cannot_take_is_refused_with_its_rule(
        mapping: str, says: str) -> None:
    with pytest.raises(RequestInvalid, match=says) as refused:
        request_of("-o", "v", "-m", "sys1", "-t", "sys2", "-p", "db2", "-i", mapping)
    assert refused.value.code == "HSCLF011"


def test_migrlpar_takes_a_partition_id_instead_of_a_name() -> None:
    request = request_of("-o", "v", "-m", "a", "-t", "b", "--id", "3")
    assert request.lpar_id == 3 and request.partition is None


def test_several_partitions_make_one_request_each() -> None:
    args = migrlpar_args("-o", "v", "-m", "a", "-t", "b", "-p", "p1,p2")
    assert [r.partition for r in commands.migration_requests(args, [])] == ["p1", "p2"]
    args = migrlpar_args("-o", "v", "-m", "a", "-t", "b", "--all")
    assert [r.partition for r in commands.migration_requests(args, ["x", "y"])] == ["x", "y"]


def test_a_destination_id_applies_to_one_partition_only() -> None:
    args = migrlpar_args("-o", "m", "-m", "a", "-t", "b", "-p", "p1,p2", "-i",
                         "dest_lpar_id=4")
    with pytest.raises(RequestInvalid, match="several") as caught:
        commands.migration_requests(args, [])
    assert caught.value.code == "HSCLF015"


def test_input_data_can_come_from_a_file(tmp_path: commands.Path) -> None:
    data = tmp_path / "input"
    data.write_text("dest_lpar_id=9,\ndest_msp_name=m2\n")
    request = request_of("-o", "v", "-m", "a", "-t", "b", "-p", "p", "-f", str(data))
    assert (request.dest_lpar_id, request.dest_msp_name) == (9, "m2")


def test_migrlpar_without_a_target_names_the_missing_flag() -> None:
    with pytest.raises(RequestInvalid, match="-t SYSTEM") as caught:
        request_of("-o", "m", "-m", "a", "-p", "p")
    assert caught.value.code == "HSCLF010" and caught.value.exit_status == 2


def test_an_unknown_input_attribute_is_named_with_the_valid_ones() -> None:
    with pytest.raises(RequestInvalid, match="colour.*dest_lpar_id") as caught:
        request_of("-o", "m", "-m", "a", "-t", "b", "-p", "p", "-i", "colour=blue")
    assert caught.value.code == "HSCLF003"


def test_a_misspelt_attribute_gets_the_closest_valid_one_suggested() -> None:
    with pytest.raises(RequestInvalid, match=r"source_msp\+name \(did you mean "
                       r"source_msp_name\?\)"):
        request_of("-o", "m", "-m", "a", "-t", "b", "-p", "p", "-i",
                   "source_msp+name=wilmav2,dest_msp_name=visav2")


def test_a_non_numeric_destination_id_is_refused() -> None:
    with pytest.raises(RequestInvalid, match="dest_lpar_id"):
        request_of("-o", "m", "-m", "a", "-t", "b", "-p", "p", "-i", "dest_lpar_id=seven")


def test_argument_errors_are_hscl_errors_with_exit_status_2() -> None:
    with pytest.raises(RequestInvalid, match="migrlpar.*-o") as caught:
        migrlpar_args("-m", "a", "-t", "b", "-p", "p")
    assert caught.value.code == "HSCLF001" and caught.value.exit_status == 2


def test_name_and_id_together_are_refused() -> None:
    with pytest.raises(RequestInvalid):
        migrlpar_args("-o", "v", "-m", "a", "-t", "b", "-p", "p", "--id", "1")


def test_mksyscfg_attributes_become_a_profile() -> None:
    profile = commands.profile_from(commands.parse_attributes(
        "name=web1,profile_name=default,min_mem=256,desired_mem=512,max_mem=1024,"
        "min_procs=1,desired_procs=2,max_procs=4,lpar_proc_compat_mode=qemu64",
        commands.PROFILE_ATTRIBUTES, "mksyscfg"))
    assert profile == PartitionProfile(name="web1", min_mem=256, desired_mem=512,
                                       max_mem=1024, min_procs=1, desired_procs=2,
                                       max_procs=4, proc_compat_mode="qemu64")


@pytest.mark.parametrize(("text", "says"), [
    ("name=a,min_mem=512,desired_mem=256,max_mem=1024,min_procs=1,desired_procs=1,"
     "max_procs=1", "min_mem <= desired_mem"),
    ("name=a,min_mem=256,desired_mem=256,max_mem=256,min_procs=1,desired_procs=1",
     "max_procs"),
    ("name=a b,min_mem=256,desired_mem=256,max_mem=256,min_procs=1,desired_procs=1,"
     "max_procs=1", "name"),
    ("name=a,lpar_env=vioserver,min_mem=256,desired_mem=256,max_mem=256,min_procs=1,"
     "desired_procs=1,max_procs=1", "aixlinux"),
])
def test_an_invalid_partition_definition_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(RequestInvalid, match=says):
        commands.profile_from(commands.parse_attributes(text, commands.PROFILE_ATTRIBUTES,
                                                        "mksyscfg"))


BASE = "name=a,min_mem=256,desired_mem=256,max_mem=256,min_procs=1,desired_procs=1,max_procs=1"


def profile_of(extra: str) -> PartitionProfile:
    return commands.profile_from(commands.parse_attributes(
        f"{BASE},{extra}", commands.PROFILE_ATTRIBUTES, "mksyscfg"))


def test_virtual_adapters_of_mksyscfg_become_the_profile_s_adapters() -> None:
    profile = profile_of('"virtual_eth_adapters=2/10,3/0/20//0/1",'
                         '"virtual_fc_adapters=4/C050760000000A01/c050760000000a02",'
                         '"virtual_scsi_adapters=5/root+data,6/logs"')
    assert [(a.slot, a.port_vlan_id) for a in profile.virtual_eth_adapters] == [
        (2, 10), (3, 20)]
    fc = profile.virtual_fc_adapters[0]
    assert (fc.slot, fc.wwpns, fc.active_wwpn) == (
        4, ("c050760000000a01", "c050760000000a02"), "c050760000000a01")
    assert [(a.slot, a.luns) for a in profile.virtual_scsi_adapters] == [
        (5, ("root", "data")), (6, ("logs",))]


def test_each_virtual_storage_adapter_names_the_io_service_hosting_it_first_by_default(
        ) -> None:
    profile = profile_of('"virtual_fc_adapters=4/c050760000000a01/c050760000000a02/2,5/2,6",'
                         '"virtual_scsi_adapters=7/root/2,8/root"')
    assert [(a.slot, a.io_service) for a in profile.storage_adapters] == [
        (4, 2), (5, 2), (6, 1), (7, 2), (8, 1)]
    assert profile.io_services == (1, 2)
    listed = lssyscfg.profile_record(view(PartitionSummary(system="sys1", partition=Partition(
        profile=profile, state=PartitionState.NOT_ACTIVATED))))
    assert profile_of(f'"virtual_fc_adapters={listed["virtual_fc_adapters"]}",'
                      f'"virtual_scsi_adapters={listed["virtual_scsi_adapters"]}"'
                      ).storage_adapters == profile.storage_adapters


def test_a_virtual_fc_adapter_given_by_slot_alone_gets_a_new_pair_of_wwpns() -> None:
    first, second = profile_of("virtual_fc_adapters=4").virtual_fc_adapters[0].wwpns
    assert first != second and first.startswith("c05076") and len(first) == 16


@pytest.mark.parametrize(("extra", "says"), [
    ("virtual_eth_adapters=2/1/10/20/0/1", "no additional VLANs"),
    ("virtual_eth_adapters=2/5000", "port_vlan_id"),
    ("virtual_fc_adapters=4/c050760000000a01", "SLOT/WWPN/WWPN"),
    ("virtual_fc_adapters=4/c050760000000a01/c050760000000a01", "differ"),
    ("virtual_fc_adapters=4/nothex00nothex00/c050760000000a01", "hexadecimal"),
    ("virtual_scsi_adapters=x/root", "slot"),
    ("virtual_scsi_adapters=5", "SLOT/LUN"),
    ("virtual_scsi_adapters=5/root/0", "I/O service is a number from 1"),
    ("virtual_fc_adapters=4/10", "I/O service is a number from 1"),
])
def test_a_malformed_virtual_adapter_is_refused_with_its_rule(extra: str, says: str) -> None:
    with pytest.raises(RequestInvalid, match=says):
        profile_of(extra)


def test_virtualio_suggests_where_each_storage_adapter_lands_and_names_what_cannot_move(
        ) -> None:
    profile = profile_of('"virtual_fc_adapters=4/c050760000000a01/c050760000000a02/2",'
                         '"virtual_scsi_adapters=7/root/2,8/root",'
                         '"virtual_eth_adapters=2/10,3/20",disks=/srv/local.img')
    target = SystemInfo(name="sys2", cpus=4, memory_mb=2048, free_cpus=4,
                        free_memory_mb=2048, accel="tcg", qemu_version="7.2",
                        agent_version="1", io_services=1, vlans=(10,))
    record = commands.virtualio_record(PartitionSummary(system="sys1", partition=Partition(
        profile=profile, state=PartitionState.RUNNING)), target)
    # The target has one I/O service: the adapters on the source's second go to it.
    assert record["suggested_virtual_fc_mappings"] == "4//1"
    assert record["suggested_virtual_scsi_mappings"] == "7//1,8//1"
    assert record["unmappable_devices"] == (
        "/srv/local.img,virtual Ethernet slot 3 (VLAN 20 is not bridged on sys2)")

    two = commands.virtualio_record(PartitionSummary(system="sys1", partition=Partition(
        profile=profile, state=PartitionState.RUNNING)), target.model_copy(
        update={"io_services": 2, "vlans": (10, 20)}))
    assert two["suggested_virtual_scsi_mappings"] == "7//2,8//1"
    assert two["possible_virtual_scsi_mappings"] == "7//1,7//2,8//1,8//2"
    assert two["possible_virtual_fc_mappings"] == "4//1,4//2"
    assert two["unmappable_devices"] == "/srv/local.img"


def summary(state: PartitionState) -> PartitionSummary:
    profile = PartitionProfile(name="web1", lpar_id=4, min_mem=256, desired_mem=512,
                               max_mem=512, min_procs=1, desired_procs=1, max_procs=1)
    return PartitionSummary(system="sys1", partition=Partition(
        profile=profile, state=state, curr_mem=512, curr_procs=1),
        migration_state=MigrationState.IN_PROGRESS)


def test_lssyscfg_lists_partitions_with_the_hmc_attribute_names(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = lssyscfg.lssyscfg_parser().parse_args(["-r", "lpar", "-m", "sys1", "-F",
                                                  "name:lpar_id:state", "--header"])
    commands.listing([lssyscfg.partition_record(view(summary(
        PartitionState.MIGRATING_RUNNING)))], args)
    assert capsys.readouterr().out.splitlines() == ["name:lpar_id:state",
                                                    "web1:4:Migrating - Running"]


def test_lslparmigr_gives_every_attribute_even_without_a_migration_record(
        capsys: pytest.CaptureFixture[str]) -> None:
    record = commands.migration_record(summary(PartitionState.RUNNING), None)
    assert set(commands.MIGRATION_LISTING) <= set(record)
    args = commands.lslparmigr_parser().parse_args(
        ["-r", "lpar", "-m", "sys1", "-F", "name,dest_sys_name,bytes_transmitted"])
    commands.listing([record], args)
    assert capsys.readouterr().out == "web1,null,null\n"


def test_an_empty_listing_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    args = lssyscfg.lssyscfg_parser().parse_args(["-r", "lpar", "-m", "sys1"])
    commands.listing([], args)
    assert capsys.readouterr().out == "No results were found.\n"


@pytest.mark.parametrize("who", [["-p", "a,b"], ["--all"], ["--id", "1,2"]])
def test_stop_and_recover_take_one_partition(who: list[str]) -> None:
    assert commands.migrlpar(["-o", "s", "-m", "a", *who]) == 2
    assert commands.migrlpar(["-o", "r", "-m", "a", *who]) == 2


def test_a_filter_selects_partitions_by_name_or_id_and_refuses_other_ids() -> None:
    keep = lssyscfg.lpar_filter('"lpar_names=web1,db1",lpar_ids=9')
    assert keep(summary(PartitionState.RUNNING))
    assert not lssyscfg.lpar_filter("lpar_ids=3")(summary(PartitionState.RUNNING))
    with pytest.raises(RequestInvalid, match="numbers") as caught:
        lssyscfg.lpar_filter("lpar_ids=web1")
    assert caught.value.code == "HSCLF013"


# -- issue 19: the attributes and fields HMC scripts use ------------------------------------


def test_mover_service_partitions_are_taken_by_id() -> None:
    request = request_of("-o", "m", "-m", "a", "-t", "b", "-p", "p", "-i",
                         "source_msp_id=1,dest_msp_id=1,dest_msp_name=b-mover")
    assert (request.source_msp_id, request.dest_msp_id, request.dest_msp_name) == (
        1, 1, "b-mover")
    with pytest.raises(RequestInvalid, match="dest_msp_id is a number") as caught:
        request_of("-o", "m", "-m", "a", "-t", "b", "-p", "p", "-i", "dest_msp_id=vios1")
    assert caught.value.code == "HSCLF011"


@pytest.mark.parametrize("pool", ["shared_proc_pool_name=DefaultPool",
                                  "shared_proc_pool_id=0",
                                  "shared_proc_pool_name=DefaultPool,shared_proc_pool_id=0"])
def test_the_default_processor_pool_is_taken(pool: str) -> None:
    request_of("-o", "v", "-m", "a", "-t", "b", "-p", "p", "-i", pool)


@pytest.mark.parametrize("pool", ["shared_proc_pool_name=Pool1", "shared_proc_pool_id=3",
                                  "shared_proc_pool_name=DefaultPool,shared_proc_pool_id=1"])
def test_another_processor_pool_is_refused_naming_the_one_there_is(pool: str) -> None:
    with pytest.raises(RequestInvalid, match="one pool, DefaultPool \\(id 0\\)") as caught:
        request_of("-o", "v", "-m", "a", "-t", "b", "-p", "p", "-i", pool)
    assert caught.value.code == "HSCLF021" and pool in caught.value.message


def test_vlan_mappings_take_the_hmc_mac_with_or_without_colons() -> None:
    assert commands.vlan_mappings("525400AABBCC/10,52:54:00:aa:bb:dd/20") == {
        "52:54:00:aa:bb:cc": 10, "52:54:00:aa:bb:dd": 20}


@pytest.mark.parametrize(("text", "says"), [
    ("525400AABBCC/10/20 30", "tagged VLANs"), ("525400AABBC/10", "not MAC/PVID"),
    ("525400AABBCC/5000", "not MAC/PVID"), ("525400AABBCC", "not MAC/PVID")])
def test_a_malformed_vlan_mapping_is_refused(text: str, says: str) -> None:
    with pytest.raises(RequestInvalid, match=says) as caught:
        commands.vlan_mappings(text)
    assert caught.value.code == "HSCLF022"


def test_a_vlan_mapping_puts_the_adapter_on_that_vlan_of_the_target() -> None:
    request = request_of("-o", "m", "-m", "a", "-t", "b", "-p", "p", "-i",
                         '"vlan_mappings=525400AABBCC/20"')
    assert [(m.mac_addr, m.port_vlan_id) for m in request.vlan_mappings] == [
        ("52:54:00:aa:bb:cc", 20)]
    profile = profile_of('"virtual_eth_adapters=2/10,3/10"').model_copy(update={
        "virtual_eth_adapters": (
            VirtualEthernetAdapter(slot=2, port_vlan_id=10, mac_addr="52:54:00:aa:bb:cc"),
            VirtualEthernetAdapter(slot=3, port_vlan_id=10, mac_addr="52:54:00:aa:bb:dd"))})
    placed = request.placed(profile, 1)
    assert [(a.slot, a.port_vlan_id) for a in placed.virtual_eth_adapters] == [
        (2, 20), (3, 10)]


def test_migrlpar_set_for_a_partition_is_refused_naming_what_set_supports(
        capsys: pytest.CaptureFixture[str]) -> None:
    status = commands.migrlpar(["-o", "set", "-r", "lpar", "-m", "a", "-p", "vios1", "-i",
                                "num_active_migrations_configured=4"])
    err = capsys.readouterr().err
    assert status == 2 and "HSCLF023" in err and "--max-migrations" in err
    assert "-r sys: convergence" in err


def test_lssyscfg_gives_the_hmc_fields_scripts_read() -> None:
    running = summary(PartitionState.RUNNING)
    record = lssyscfg.partition_record(view(running))
    assert (record["curr_lpar_proc_compat_mode"], record["desired_lpar_proc_compat_mode"],
            record["rmc_state"], record["msp"]) == ("qemu64", "qemu64", "inactive", 0)
    # No UUID given yet (a partition from before UUIDs): one from its name, the same
    # wherever it is listed.
    assert record["uuid"] == lssyscfg.partition_record(view(
        running.model_copy(update={"system": "sys2"})))["uuid"]
    answered = running.partition.model_copy(update={
        "os_version": "Linux/Debian 6.1.0 12",
        "profile": running.partition.profile.model_copy(
            update={"uuid": "0f8fad5b-d9cb-469f-a165-70867728950e"})})
    record = lssyscfg.partition_record(view(running.model_copy(update={"partition": answered})))
    assert (record["rmc_state"], record["uuid"]) == (
        "active", "0f8fad5b-d9cb-469f-a165-70867728950e")


def test_lslparmigr_gives_the_movers_ids_and_the_remote_console() -> None:
    record = MigrationRecord(
        id="m1", partition="web1", source="sys1", target="sys9",
        kind=MigrationKind.ACTIVE, state=MigrationState.IN_PROGRESS, started=0.0,
        source_msp_name="sys1-mover", dest_msp_name="sys9-mover", source_msp_id=1,
        dest_msp_id=1, target_console="hmc2", remote_user="hscroot")
    listed = commands.migration_record(summary(PartitionState.MIGRATING_RUNNING), record)
    assert {k: listed[k] for k in ("source_msp_id", "dest_msp_id", "remote_manager",
                                   "remote_user")} == {
        "source_msp_id": 1, "dest_msp_id": 1, "remote_manager": "hmc2",
        "remote_user": "hscroot"}
    assert set(listed) == set(commands.migration_record(summary(PartitionState.RUNNING), None))
    history = commands.history_record(record)
    assert (history["source_msp_id"], history["dest_msp_id"]) == (1, 1)


def test_lslparmigr_lists_the_console_and_the_target_s_processor_pools(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = commands.lslparmigr_parser().parse_args(["-r", "manager"])
    commands.listing([commands.manager_record()], args)
    assert capsys.readouterr().out == "remote_lpar_mobility_capable=1\n"
    args = commands.lslparmigr_parser().parse_args(["-r", "procpool", "-m", "sys1", "-t",
                                                   "sys2"])
    commands.listing([commands.procpool_record(summary(PartitionState.RUNNING))], args)
    assert capsys.readouterr().out == (
        "lpar_name=web1,lpar_id=4,shared_proc_pool_ids=0,shared_proc_pool_names=DefaultPool\n")


def test_lslparmigr_needs_a_system_except_for_the_console(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.lslparmigr(["-r", "procpool", "-t", "sys2"]) == 2
    assert "HSCLF009" in capsys.readouterr().err
