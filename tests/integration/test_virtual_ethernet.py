"""Virtual Ethernet: partitions on VLANs of their system's virtual switch, reached by a
client on the lab network, through a migration; and the VLAN checks of validation.

sys2 bridges only VLAN 10 here, so a partition on VLAN 20 cannot keep its network there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from openlpm.lab.network import client_address
from tests.integration.conftest import MEASURED, Lab
from tests.integration.partition_checks import in_client, wait_echo

LAB_SPEC = {"vlans": (10, 20), "vlans_of": {"sys2": (10,)}}
SOURCE, TARGET = "sys1", "sys2"
PROFILE = ("name={name},profile_name=default,min_mem=128,desired_mem=256,max_mem=256,"
           "min_procs=1,desired_procs=1,max_procs=1,virtual_eth_adapters=2/{vlan},"
           "kernel_args=openlpm.ip={ip}/24")
# A pause of a TCP stream through a migration is its downtime plus, when a segment sent
# during the switch-over was lost, one retransmission timeout (200 ms at least on Linux).
PAUSE_MARGIN_MS = 1000


def start(lab: Lab, name: str, vlan: int, ip: str) -> str:
    lab.run("mksyscfg", "-r", "lpar", "-m", SOURCE, "-i",
            PROFILE.format(name=name, vlan=vlan, ip=ip))
    lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", name)
    return lab.wait_ticks(SOURCE, name, more_than=1)[-1][2]


def test_a_client_connection_streams_through_a_migration_without_a_reset(lab: Lab) -> None:
    ip = "198.18.10.21"
    boot = start(lab, "web1", 10, ip)
    wait_echo(lab, ip)
    mac = lab.values("lshwres", "-r", "virtualio", "--rsubtype", "eth", "-m", SOURCE,
                     "-F", "mac_addr")[0]

    client = subprocess.Popen(in_client(lab, sys.executable, "-m", "openlpm.lab.echo_client", ip,
                                        "--seconds", "15"),
                              stdout=subprocess.PIPE, text=True)
    time.sleep(3)
    lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "web1")
    out, _ = client.communicate(timeout=120)
    stream = json.loads(out)

    record = lab.api("/partitions/web1/migration")
    assert stream["error"] is None, f"the connection broke: {stream['error']}"
    assert stream["echoed"] == stream["sent"] > 1000
    MEASURED.append(("longest pause of a TCP stream through a migration",
                     f"{stream['longest_pause_ms']:.0f} ms (downtime {record['downtime_ms']} "
                     f"ms)"))
    assert stream["longest_pause_ms"] <= record["downtime_ms"] + PAUSE_MARGIN_MS
    lab.assert_one_boot(TARGET, "web1",
                        lab.wait_ticks(TARGET, "web1", more_than=3, received_on=TARGET), boot)
    # Step 5b: the partition announced itself from the target, so the client's side of
    # VLAN 10 now sends its MAC to sys2's address.
    fdb = subprocess.run(in_client(lab, "bridge", "fdb", "show", "dev", "vx10"),
                         capture_output=True, text=True, check=True).stdout
    colon_mac = ":".join(mac[i:i + 2] for i in range(0, 12, 2)).lower()
    assert f"{colon_mac} dst 198.18.0.12 self" in fdb, fdb
    assert lab.values("lshwres", "-r", "virtualio", "--rsubtype", "eth", "-m", TARGET,
                      "-F", "slot_num:port_vlan_id:mac_addr") == [f"2:10:{mac}"]


def test_a_vlan_the_target_does_not_bridge_fails_validation_unless_vlanbridge_2(
        lab: Lab) -> None:
    ip = "198.18.20.21"
    start(lab, "db1", 20, ip)
    wait_echo(lab, ip)
    assert client_address(20) == "198.18.20.2"

    refused = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "db1",
                      check=False)
    assert refused.returncode == 6
    assert "HSCLF423" in refused.stderr and "does not bridge VLAN 20" in refused.stderr
    required = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "db1",
                       "--vlanbridge", "1", check=False)
    assert required.returncode == 6 and "HSCLF423" in required.stderr

    preferred = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "db1",
                        "--vlanbridge", "2")
    assert "HSCLF424" in preferred.stdout + preferred.stderr
    assert lab.values("lslparmigr", "-r", "virtualio", "-m", SOURCE, "-t", TARGET,
                      "--filter", "lpar_names=db1", "-F", "unmappable_devices") == [
        f"virtual Ethernet slot 2 (VLAN 20 is not bridged on {TARGET})"]


def test_vlan_mappings_move_an_adapter_onto_a_vlan_the_target_bridges(lab: Lab) -> None:
    boot = start(lab, "app1", 20, "198.18.20.22")
    [mac] = lab.values("lshwres", "-r", "virtualio", "--rsubtype", "eth", "-m", SOURCE,
                       "--filter", "lpar_names=app1", "-F", "mac_addr")
    # As an HMC script writes it: the MAC in 12 hexadecimal digits, the PVID on the target.
    mapping = f'"vlan_mappings={mac}/10"'
    lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "app1", "-i", mapping)
    unknown = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "app1",
                      "-i", '"vlan_mappings=525400FFFFFF/10"', check=False)
    assert unknown.returncode == 6 and "HSCLF199" in unknown.stderr
    tagged = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "app1",
                     "-i", f'"vlan_mappings={mac}/10/30"', check=False)
    assert tagged.returncode == 2 and "HSCLF022" in tagged.stderr

    lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "app1", "-i", mapping)

    lab.assert_one_boot(TARGET, "app1",
                        lab.wait_ticks(TARGET, "app1", more_than=3, received_on=TARGET), boot)
    assert lab.values("lshwres", "-r", "virtualio", "--rsubtype", "eth", "-m", TARGET,
                      "--filter", "lpar_names=app1", "-F",
                      "slot_num:port_vlan_id:mac_addr") == [f"2:10:{mac}"]
    record = lab.api("/partitions/app1/migration")
    assert any(e["phase"] == "moved" and e["detail"] == "virtual Ethernet slot 2 from VLAN 20 "
               f"to 10 on {TARGET}" for e in lab.api(f"/migrations/{record['id']}/journal"))
