"""Each validation check on its own: the facts that trip it, and its finding.

Checks are pure functions of ``MigrationFacts``; these build the facts directly. How the
facts are gathered from real agents is covered by tests/integration/test_validation.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from openlpm import __version__
from openlpm.hmc.mobility.checks import (
    CHECKS,
    TARGET_CHECKS,
    Check,
    describe,
    environment,
    movers,
    network,
    partition,
    resources,
    storage,
)
from openlpm.hmc.mobility.checks.facts import MigrationFacts
from openlpm.model import (
    AdapterMapping,
    CpuModel,
    Finding,
    GuestVerdict,
    MigrationKind,
    MigrationRecord,
    MigrationRequest,
    MigrationState,
    MoverCertificate,
    MoverProbe,
    Partition,
    PartitionState,
    Severity,
    SystemInfo,
    VirtualEthernetAdapter,
    VirtualFcAdapter,
    VirtualScsiAdapter,
)
from tests.unit.fakes import mover_of, profile

DOCS = Path(__file__).parents[2] / "docs" / "validation.md"


AUTHORITY = "AB:CD:EF"


def certificate(fingerprint: str = AUTHORITY) -> MoverCertificate:
    return MoverCertificate(subject="CN=msp1", authority="CN=hmc1 mover authority",
                            authority_fingerprint=fingerprint, expires=2e9)


def system(name: str, **changes: Any) -> SystemInfo:
    mover = mover_of(name).model_copy(update={"version": __version__,
                                              "certificate": certificate()})
    return SystemInfo(name=name, cpus=8, memory_mb=8192, free_cpus=8, free_memory_mb=8192,
                      accel="tcg", qemu_version="7.2.0", agent_version=__version__,
                      movers=(mover,)).model_copy(update=changes)


def facts(state: PartitionState = PartitionState.RUNNING, *, request: dict[str, Any] | None
          = None, profile_changes: dict[str, Any] | None = None, source: SystemInfo | None
          = None, **changes: Any) -> MigrationFacts:
    lpar = profile("lpar1", mem=1024, procs=2, lpar_id=3).model_copy(
        update=profile_changes or {})
    base = MigrationFacts(
        request=MigrationRequest(source="sys1", target="sys2", partition="lpar1",
                                 **(request or {})),
        console="hmc1",
        partition=Partition(profile=lpar, state=state, activated_once=True),
        source=source or system("sys1"), target=system("sys2"),
        target_cpu_models=(CpuModel(name="qemu64"),),
        mover_probe=MoverProbe(peer="198.18.0.12:8472", reachable=True),
        guest=GuestVerdict(answered=True), authorities=frozenset({AUTHORITY}))
    return MigrationFacts(**{**base.__dict__, **changes})


def findings(check: Check, given: MigrationFacts) -> list[Finding]:
    return list(check(given))


def only(check: Check, given: MigrationFacts) -> Finding:
    found = findings(check, given)
    assert len(found) == 1, found
    return found[0]


def in_flight(kind: MigrationKind, n: int, **fields: Any) -> tuple[MigrationRecord, ...]:
    return tuple(MigrationRecord(id=f"m{i}", partition=f"other{i}", source="sys1",
                                 target="sys3", kind=kind, state=MigrationState.IN_PROGRESS,
                                 started=0.0, **fields) for i in range(n))


def test_a_healthy_migration_trips_no_check() -> None:
    assert [f for check in CHECKS for f in check(facts())] == []


# -- environment --------------------------------------------------------------------


def test_unreachable_target_names_the_system_and_the_reason() -> None:
    found = only(environment.target_reachable, facts(target=None, target_error="timed out"))
    assert (found.code, found.object) == ("HSCLF183", "sys2")
    assert "timed out" in found.message


def test_a_system_that_is_not_operating_is_an_error() -> None:
    found = only(environment.systems_operating,
                 facts(source=system("sys1", state="Error")))
    assert (found.code, found.object, found.severity) == ("HSCLF401", "sys1", Severity.ERROR)


def test_a_target_in_maintenance_takes_no_migration() -> None:
    found = only(environment.systems_operating,
                 facts(target=system("sys2", maintenance=True)))
    assert (found.code, found.object) == ("HSCLF402", "sys2")
    assert "openlpm maintenance -m sys2 --off" in found.remedy


def test_a_remote_console_runs_the_checks_of_its_target_and_this_one_the_others() -> None:
    target_side = {c.__name__ for c in TARGET_CHECKS}
    assert {"memory_available", "vlans_bridged", "storage_reachable",
            "movers_certified"} <= target_side
    assert not target_side & {"state_allows", "only_virtual_devices", "guest_consents",
                              "movers_reach_each_other"}
    assert set(CHECKS) >= TARGET_CHECKS


def test_a_mover_certified_by_a_console_this_one_exchanged_keys_with_is_trusted() -> None:
    peer = "AB:CD"
    foreign = mover_of("sys2").model_copy(update={"certificate": certificate(peer)})
    target = system("sys2", movers=(foreign,))
    assert only(movers.movers_certified, facts(target=target)).code == "HSCLF422"
    assert findings(movers.movers_certified, facts(
        target=target, authorities=frozenset({AUTHORITY, peer}))) == []


def test_agent_releases_outside_the_pairing_table_are_an_error() -> None:
    mover = mover_of("sys2").model_copy(update={"version": "9.0.0"})
    found = only(environment.versions_pair,
                 facts(target=system("sys2", agent_version="9.0.0", movers=(mover,))))
    assert (found.code, found.object) == ("HSCLF403", "sys2")
    assert "9.0.0" in found.message


def test_a_mover_of_another_release_than_its_system_is_an_error() -> None:
    odd = mover_of("sys2").model_copy(update={"version": "9.0.0"})
    found = only(environment.versions_pair, facts(target=system("sys2", movers=(odd,))))
    assert (found.code, found.object) == ("HSCLF404", odd.name)


@pytest.mark.parametrize(("kind", "state", "code"), [
    (MigrationKind.ACTIVE, PartitionState.RUNNING, "HSCLF405"),
    (MigrationKind.INACTIVE, PartitionState.NOT_ACTIVATED, "HSCLF406"),
])
def test_a_system_at_its_migration_limit_takes_no_more(
        kind: MigrationKind, state: PartitionState, code: str) -> None:
    limits = {"max_active_migrations": 2, "max_inactive_migrations": 2}
    given = facts(state, source=system("sys1", **limits), in_flight=in_flight(kind, 2))
    found = only(environment.concurrency, given)
    assert (found.code, found.object) == (code, "sys1")


def test_migrations_of_the_other_kind_do_not_count_against_the_limit() -> None:
    given = facts(source=system("sys1", max_active_migrations=2),
                  in_flight=in_flight(MigrationKind.INACTIVE, 5))
    assert findings(environment.concurrency, given) == []


def test_a_mover_at_its_limit_takes_no_more() -> None:
    busy = mover_of("sys1").model_copy(update={"max_migrations": 1, "version": __version__})
    given = facts(source=system("sys1", movers=(busy,)),
                  in_flight=in_flight(MigrationKind.ACTIVE, 1, source_msp_name=busy.name))
    found = only(environment.concurrency, given)
    assert (found.code, found.object) == ("HSCLF407", busy.name)



def test_a_vlan_mapping_is_checked_on_the_vlan_it_gives_and_its_adapter_must_exist() -> None:
    adapters = (VirtualEthernetAdapter(slot=2, port_vlan_id=20,
                                       mac_addr="52:54:00:aa:bb:cc"),)
    on_20 = {"virtual_eth_adapters": adapters}
    target = system("sys2", vlans=(10,))
    found = only(network.vlans_bridged, facts(profile_changes=on_20, target=target))
    assert found.code == "HSCLF423"
    mapped = {"vlan_mappings": ({"mac_addr": "52:54:00:aa:bb:cc", "port_vlan_id": 10},)}
    assert findings(network.vlans_bridged, facts(profile_changes=on_20, target=target,
                                                 request=mapped)) == []
    unknown = {"vlan_mappings": ({"mac_addr": "52:54:00:aa:bb:ff", "port_vlan_id": 10},)}
    codes = [f.code for f in findings(network.vlans_bridged, facts(
        profile_changes=on_20, target=target, request=unknown))]
    assert codes == ["HSCLF199", "HSCLF423"]

# -- movers -------------------------------------------------------------------------


def test_movers_that_cannot_reach_each_other_are_an_error() -> None:
    probe = MoverProbe(peer="198.18.0.12:8472", reachable=False, error="No route to host")
    found = only(movers.movers_reach_each_other, facts(mover_probe=probe))
    assert (found.code, found.object) == ("HSCLF408", "msp1")
    assert "198.18.0.12:8472" in found.message and "No route to host" in found.message


def test_a_mover_named_by_address_must_have_that_address() -> None:
    given = facts(request={"dest_msp_ipaddr": "198.18.0.99"})
    found = only(movers.movers_present, given)
    assert (found.code, found.object) == ("HSCLF196", "sys2")
    assert "198.18.0.99" in found.message and "sys2.test" in found.remedy


def test_a_mover_is_chosen_by_its_msp_id_its_place_among_the_system_s_movers() -> None:
    two = system("sys2", movers=(mover_of("sys2"), mover_of("sys2", "msp2")))
    given = facts(request={"source_msp_id": 1, "dest_msp_id": 2}, target=two)
    assert findings(movers.movers_present, given) == []
    assert given.target_mover() == two.movers[1]
    assert (two.mover_id("msp2"), two.mover_named_by_id(2), two.mover_named_by_id(3)) == (
        2, "msp2", None)


@pytest.mark.parametrize(("request_", "says"), [
    ({"dest_msp_id": 3}, "dest_msp_id=3 is not the MSP id of a mover service of sys2"),
    ({"dest_msp_id": 2, "dest_msp_name": "msp1"},
     "dest_msp_id=2 is mover service msp2, not dest_msp_name=msp1 of sys2"),
])
def test_an_msp_id_no_mover_has_is_an_error_naming_the_ids(request_: dict[str, Any],
                                                           says: str) -> None:
    two = system("sys2", movers=(mover_of("sys2"), mover_of("sys2", "msp2")))
    found = only(movers.movers_present, facts(request=request_, target=two))
    assert found.code == "HSCLF198" and says in found.message
    assert "1 (msp1), 2 (msp2)" in found.remedy


def test_a_mover_is_chosen_by_its_address() -> None:
    given = facts(request={"dest_msp_ipaddr": "sys2.test"})
    assert findings(movers.movers_present, given) == []
    assert given.target_mover() == given.target.movers[0]  # type: ignore[union-attr]


@pytest.mark.parametrize("held", [None, certificate("11:22:33")],
                         ids=["no certificate", "another authority"])
def test_an_encrypted_stream_needs_movers_certified_by_this_console(
        held: MoverCertificate | None) -> None:
    mover = mover_of("sys2").model_copy(update={"version": __version__, "certificate": held})
    unreachable = MoverProbe(peer="sys2.test:7101", reachable=False, error="handshake failed")
    given = facts(target=system("sys2", movers=(mover,)), mover_probe=unreachable)
    found = [f for check in CHECKS for f in check(given)]
    assert [(f.code, f.object) for f in found] == [("HSCLF422", "msp1")]
    assert "openlpm mover enroll -m sys2" in found[0].remedy


def test_a_stream_in_the_clear_needs_no_certificates() -> None:
    plain = {"stream_encryption": False}
    bare = mover_of("sys2").model_copy(update={"version": __version__})
    given = facts(source=system("sys1", **plain),
                  target=system("sys2", movers=(bare,), **plain))
    assert given.encrypted is False
    assert findings(movers.movers_certified, given) == []


def test_one_system_wanting_encryption_is_enough_to_encrypt() -> None:
    assert facts(source=system("sys1", stream_encryption=False)).encrypted


def test_an_inactive_migration_needs_no_movers() -> None:
    given = facts(PartitionState.NOT_ACTIVATED, source=system("sys1", movers=()),
                  target=system("sys2", movers=()))
    assert findings(movers.movers_present, given) == []


# -- target resources ---------------------------------------------------------------


def test_a_different_page_size_is_an_error() -> None:
    found = only(resources.page_size_same, facts(target=system("sys2", page_size_kb=64)))
    assert (found.code, found.object) == ("HSCLF409", "sys2")


def test_a_cpu_model_the_target_does_not_know_is_an_error() -> None:
    found = only(resources.processor_compatible,
                 facts(profile_changes={"proc_compat_mode": "POWER10"}))
    assert (found.code, found.object) == ("HSCLF410", "lpar1")


def test_a_cpu_model_missing_features_on_the_target_names_them() -> None:
    models = (CpuModel(name="Haswell", unavailable_features=("pcid", "x2apic")),)
    found = only(resources.processor_compatible,
                 facts(profile_changes={"proc_compat_mode": "Haswell"},
                       target_cpu_models=models))
    assert found.code == "HSCLF411"
    assert "pcid, x2apic" in found.message


def test_a_taken_partition_id_without_dest_lpar_id_is_a_warning() -> None:
    occupant = Partition(profile=profile("other", lpar_id=3), state=PartitionState.RUNNING)
    found = only(resources.partition_id_free, facts(target_partitions=(occupant,)))
    assert (found.code, found.severity) == ("HSCLF419", Severity.WARNING)


def test_auto_converge_under_tcg_is_refused() -> None:
    found = only(resources.convergence_safe, facts(request={"convergence": "auto-converge"}))
    assert (found.code, found.object) == ("HSCLF420", "sys1")


def test_auto_converge_as_a_system_default_under_kvm_is_fine() -> None:
    kvm = system("sys1", accel="kvm", convergence="auto-converge")
    assert findings(resources.convergence_safe, facts(source=kvm)) == []


def test_post_copy_with_several_streams_is_refused() -> None:
    found = only(resources.streams_compatible,
                 facts(request={"convergence": "postcopy", "streams": 4}))
    assert (found.code, found.object) == ("HSCLF421", "lpar1")


# -- the partition ------------------------------------------------------------------


def test_migration_disabled_is_an_error_with_the_command_that_clears_it() -> None:
    found = only(partition.migration_enabled,
                 facts(profile_changes={"migration_disabled": True}))
    assert (found.code, found.object) == ("HSCLF412", "lpar1")
    assert 'migration_disabled=0' in found.remedy


def test_every_host_local_device_is_named() -> None:
    given = facts(profile_changes={"disks": ("/srv/a.img", "/srv/b.img"),
                                   "networks": ("user",), "shares": ("/srv/share",),
                                   "io_slots": ("0000:03:00.0",)})
    found = findings(partition.only_virtual_devices, given)
    assert [f.code for f in found] == ["HSCLF413", "HSCLF413", "HSCLF414", "HSCLF415",
                                       "HSCLF416"]
    text = " ".join(f.message for f in found)
    for device in ("/srv/a.img", "/srv/b.img", "user", "/srv/share", "0000:03:00.0"):
        assert device in text


def test_a_guest_without_a_mobility_hook_is_a_warning() -> None:
    found = only(partition.guest_consents, facts(guest=GuestVerdict(answered=False)))
    assert (found.code, found.severity) == ("HSCLA246", Severity.WARNING)


def test_a_guest_veto_is_an_error_with_its_reason() -> None:
    found = only(partition.guest_consents,
                 facts(guest=GuestVerdict(answered=True, veto="backup_running")))
    assert (found.code, found.severity) == ("HSCLF417", Severity.ERROR)
    assert "backup_running" in found.message


# -- virtual Ethernet and SAN storage ------------------------------------------------

ON_VLAN_20 = {"virtual_eth_adapters": (VirtualEthernetAdapter(slot=2, port_vlan_id=20),)}
NPIV = {"virtual_fc_adapters": (VirtualFcAdapter(
    slot=4, wwpns=("c050760000000a01", "c050760000000a02")),)}
SAN = "http://198.18.0.3:8490"


def test_a_vlan_the_target_bridges_passes() -> None:
    assert findings(network.vlans_bridged, facts(
        profile_changes=ON_VLAN_20, target=system("sys2", vlans=(10, 20)))) == []


def test_a_vlan_the_target_does_not_bridge_is_an_error_by_default_and_with_vlanbridge_1(
        ) -> None:
    for request in ({}, {"vlan_bridge": 1}):
        found = only(network.vlans_bridged, facts(
            request=request, profile_changes=ON_VLAN_20, target=system("sys2", vlans=(10,))))
        assert (found.code, found.severity) == ("HSCLF423", Severity.ERROR)
        assert "VLAN 20" in found.message and "--vlanbridge 2" in found.remedy


def test_with_vlanbridge_2_a_missing_vlan_is_a_warning() -> None:
    found = only(network.vlans_bridged, facts(
        request={"vlan_bridge": 2}, profile_changes=ON_VLAN_20,
        target=system("sys2", vlans=())))
    assert (found.code, found.severity) == ("HSCLF424", Severity.WARNING)


def test_san_storage_needs_a_console_with_a_san() -> None:
    assert only(storage.storage_reachable, facts(profile_changes=NPIV)).code == "HSCLF610"


def test_san_storage_needs_a_target_on_the_same_san() -> None:
    found = only(storage.storage_reachable, facts(
        profile_changes=NPIV, san_url=SAN, target=system("sys2", san_url=None)))
    assert found.code == "HSCLF613" and "it has no SAN" in found.message
    assert findings(storage.storage_reachable, facts(
        profile_changes=NPIV, san_url=SAN, target=system("sys2", san_url=SAN))) == []


def test_a_san_that_does_not_answer_is_an_error() -> None:
    found = only(storage.storage_reachable, facts(
        profile_changes=NPIV, san_url=SAN, san_error="SAN at ... did not answer",
        target=system("sys2", san_url=SAN)))
    assert found.code == "HSCLF614"


def test_a_vscsi_lun_the_target_cannot_open_is_an_error() -> None:
    found = only(storage.storage_reachable, facts(
        profile_changes={"virtual_scsi_adapters": (VirtualScsiAdapter(slot=2, luns=("db1",)),)},
        san_url=SAN, target=system("sys2", san_url=SAN),
        target_storage_error="LUN db1 ... is not mapped to managed system sys2."))
    assert found.code == "HSCLF611" and "db1" in found.message


TWO_PATHS = {"virtual_scsi_adapters": (VirtualScsiAdapter(slot=2, luns=("db1",)),
                                       VirtualScsiAdapter(slot=3, luns=("db1",), io_service=2))}


def test_redundant_paths_the_target_keeps_pass() -> None:
    assert findings(storage.storage_paths_kept, facts(
        profile_changes=TWO_PATHS, target=system("sys2", io_services=2))) == []


def test_redundant_paths_lost_on_the_target_are_a_warning_unless_required() -> None:
    fewer = system("sys2", io_services=1)
    found = only(storage.storage_paths_kept, facts(profile_changes=TWO_PATHS, target=fewer))
    assert (found.code, found.severity) == ("HSCLF616", Severity.WARNING)
    assert "2 I/O services and sys2 has 1" in found.message
    for required in ({"mpio": 1}, {"redundant_vios": 1}, {"mpio": 1, "redundant_vios": 0}):
        found = only(storage.storage_paths_kept, facts(
            request=required, profile_changes=TWO_PATHS, target=fewer))
        assert (found.code, found.severity) == ("HSCLF616", Severity.ERROR), required
        assert "--mpio 2" in found.remedy
    assert findings(storage.storage_paths_kept, facts(
        request={"redundant_vios": 0}, profile_changes=TWO_PATHS, target=fewer)) == []


def test_a_path_the_target_has_not_mapped_is_a_lost_path() -> None:
    found = only(storage.storage_paths_kept, facts(
        request={"mpio": 1}, profile_changes=TWO_PATHS, target=system("sys2", io_services=2),
        target_lost_paths=("LUN db1 through I/O service 2 (virtual SCSI slot 3)",)))
    assert found.severity == Severity.ERROR and "LUN db1 through I/O service 2" in found.message


def test_one_path_has_no_redundancy_to_lose() -> None:
    assert findings(storage.storage_paths_kept, facts(
        request={"mpio": 1}, profile_changes=NPIV, target=system("sys2", io_services=1))) == []


def test_adapters_keep_their_io_service_where_the_target_has_it_and_take_the_first_elsewhere(
        ) -> None:
    adapters = (VirtualScsiAdapter(slot=2, luns=("a",), io_service=3),
                VirtualScsiAdapter(slot=3, luns=("a",), io_service=2))
    placed = profile().model_copy(update={"virtual_scsi_adapters": adapters}).on_io_services(2)
    assert [a.io_service for a in placed.virtual_scsi_adapters] == [1, 2]


def test_an_adapter_goes_where_the_request_maps_it_when_the_target_has_that_io_service(
        ) -> None:
    request = MigrationRequest(source="sys1", target="sys2", virtual_scsi_mappings=(
        AdapterMapping(slot=2, io_service=2), AdapterMapping(slot=3, io_service=5)))
    placed = request.placed(profile().model_copy(update=TWO_PATHS), 2)
    assert [(a.slot, a.io_service) for a in placed.virtual_scsi_adapters] == [(2, 2), (3, 2)]


def test_mapping_an_adapter_the_partition_lacks_or_onto_a_missing_io_service_is_an_error(
        ) -> None:
    found = only(storage.adapter_mappings_possible, facts(
        request={"virtual_fc_mappings": [{"slot": 9, "io_service": 1}]}, profile_changes=NPIV))
    assert (found.code, found.object) == ("HSCLF617", "lpar1")
    assert "no virtual FC adapter there (its virtual FC slots: 4)" in found.message
    found = only(storage.adapter_mappings_possible, facts(
        request={"virtual_scsi_mappings": [{"slot": 3, "io_service": 2}]},
        profile_changes=TWO_PATHS, target=system("sys2", io_services=1)))
    assert (found.code, found.object) == ("HSCLF617", "sys2")
    assert "I/O service 2, and managed system sys2 has 1" in found.message
    assert findings(storage.adapter_mappings_possible, facts(
        request={"virtual_scsi_mappings": [{"slot": 3, "io_service": 2}]},
        profile_changes=TWO_PATHS, target=system("sys2", io_services=2))) == []


def test_mappings_that_put_redundant_paths_on_one_io_service_lose_a_path() -> None:
    found = only(storage.storage_paths_kept, facts(
        request={"virtual_scsi_mappings": [{"slot": 3, "io_service": 1}]},
        profile_changes=TWO_PATHS, target=system("sys2", io_services=2)))
    assert found.severity == Severity.WARNING
    assert "2 I/O services and the requested mappings put them on 1" in found.message


# -- the catalogue ------------------------------------------------------------------


def test_every_check_says_what_it_verifies() -> None:
    assert all(check.__doc__ for check in CHECKS)
    assert len({describe(check) for check in CHECKS}) == len(CHECKS)


def test_every_code_a_check_can_give_is_documented() -> None:
    sources = Path(environment.__file__).parent
    codes = {code for path in sources.glob("*.py")
             for code in re.findall(r'"(HSCL[A-F0-9]+)"', path.read_text())}
    documented = set(re.findall(r"HSCL[A-F0-9]+", DOCS.read_text()))
    assert codes and codes <= documented, sorted(codes - documented)
