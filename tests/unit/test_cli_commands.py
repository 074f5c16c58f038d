"""The HMC-compatible commands parse the HMC's syntax and refuse bad input clearly."""

from __future__ import annotations

import pytest

from openlpm.cli import commands
from openlpm.errors import RequestInvalid
from openlpm.model import (
    MigrationState,
    Partition,
    PartitionProfile,
    PartitionState,
    PartitionSummary,
)


def migrlpar_args(*argv: str) -> commands.argparse.Namespace:
    return commands.migrlpar_parser().parse_args(list(argv))


def test_migrlpar_builds_the_request_the_api_takes() -> None:
    args = migrlpar_args("-o", "m", "-m", "sys1", "-t", "sys2", "-p", "web1", "-n", "moved",
                         "-w", "5", "-i", "dest_lpar_id=7,source_msp_name=msp1")
    request = commands.migration_request(args)
    assert (request.source, request.target, request.partition) == ("sys1", "sys2", "web1")
    assert request.dest_profile_name == "moved" and request.wait_minutes == 5
    assert request.dest_lpar_id == 7 and request.source_msp_name == "msp1"


def test_migrlpar_takes_a_partition_id_instead_of_a_name() -> None:
    request = commands.migration_request(migrlpar_args("-o", "v", "-m", "a", "-t", "b",
                                                       "--id", "3"))
    assert request.lpar_id == 3 and request.partition is None


def test_migrlpar_without_a_target_names_the_missing_flag() -> None:
    with pytest.raises(RequestInvalid, match="-t SYSTEM") as caught:
        commands.migration_request(migrlpar_args("-o", "m", "-m", "a", "-p", "p"))
    assert caught.value.code == "HSCLF010" and caught.value.exit_status == 2


def test_an_unknown_input_attribute_is_named_with_the_valid_ones() -> None:
    with pytest.raises(RequestInvalid, match="colour.*dest_lpar_id") as caught:
        commands.migration_request(migrlpar_args("-o", "m", "-m", "a", "-t", "b", "-p", "p",
                                                 "-i", "colour=blue"))
    assert caught.value.code == "HSCLF003"


def test_a_non_numeric_destination_id_is_refused() -> None:
    with pytest.raises(RequestInvalid, match="dest_lpar_id"):
        commands.migration_request(migrlpar_args("-o", "m", "-m", "a", "-t", "b", "-p", "p",
                                                 "-i", "dest_lpar_id=seven"))


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


def summary(state: PartitionState) -> PartitionSummary:
    profile = PartitionProfile(name="web1", lpar_id=4, min_mem=256, desired_mem=512,
                               max_mem=512, min_procs=1, desired_procs=1, max_procs=1)
    return PartitionSummary(system="sys1", partition=Partition(
        profile=profile, state=state, curr_mem=512, curr_procs=1),
        migration_state=MigrationState.IN_PROGRESS)


def test_lssyscfg_lists_partitions_with_the_hmc_attribute_names(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = commands.lssyscfg_parser().parse_args(["-r", "lpar", "-m", "sys1", "-F",
                                                  "name:lpar_id:state", "--header"])
    commands.listing([commands.partition_record(summary(PartitionState.MIGRATING_RUNNING))],
                     args)
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
    args = commands.lssyscfg_parser().parse_args(["-r", "lpar", "-m", "sys1"])
    commands.listing([], args)
    assert capsys.readouterr().out == "No results were found.\n"


def test_stop_and_recover_are_refused_clearly_until_they_exist() -> None:
    assert commands.migrlpar(["-o", "s", "-m", "a", "-p", "p"]) == 2


def test_a_filter_selects_partitions_by_name_or_id_and_refuses_other_ids() -> None:
    keep = commands.lpar_filter('"lpar_names=web1,db1",lpar_ids=9')
    assert keep(summary(PartitionState.RUNNING))
    assert not commands.lpar_filter("lpar_ids=3")(summary(PartitionState.RUNNING))
    with pytest.raises(RequestInvalid, match="numbers") as caught:
        commands.lpar_filter("lpar_ids=web1")
    assert caught.value.code == "HSCLF013"
