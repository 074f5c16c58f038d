"""SAN storage: LUNs over NBD, NPIV and vSCSI mappings, boot on SAN, and what a migration
does to them (steps 2 and 6).

The partitions here boot from a LUN (a copy of the image's root filesystem) and append
an fsync'd, checksummed record to a second LUN every 100 ms; the records are read back
from the SAN's own image file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from openlpm.authority import CertificateAuthority, client_context
from openlpm.lab import site
from openlpm.lab.sequence import read_sequence
from openlpm.lab.site import IMAGE_DIR, SAN_URL, san_hosts_key_file, san_tls_dir
from openlpm.processes import runs_with
from tests.integration.conftest import Lab
from tests.integration.partition_checks import acknowledged, wait_acknowledged

SOURCE, TARGET = "sys1", "sys2"
# The source has two I/O services (two paths to the SAN), the target one.
LAB_SPEC = {"io_services_of": {SOURCE: 2}}
WWPNS = ("c050760000000a01", "c050760000000a02")
PROFILE = ("name={name},profile_name=default,min_mem=128,desired_mem=256,max_mem=256,"
           "min_procs=1,desired_procs=1,max_procs=1,{adapters},"
           "kernel_args=openlpm.root={root} openlpm.seq={seq}")
# Opens a LUN's export as one WWPN, with the credentials in a directory, from wherever it
# runs (a system's namespace): exit 0 if the SAN lets it in.
PROBE = """
import asyncio, sys
from pathlib import Path
from openlpm.agent.storage import SanAccess, SanDisk
from openlpm.model import SanSettings

async def main(san, key, authority, identity, lun, directory):
    access = SanAccess("probe", Path(directory))
    await access.use(SanSettings(url=san, hosts_key=key,
                                 authority=Path(authority).read_text()))
    await access.probe(SanDisk(await access.san.lun(lun), identity,
                               await access.login(identity)))

asyncio.run(main(*sys.argv[1:]))
"""


def san_lun(lab: Lab, name: str, *, boot: bool = False, size_mb: int = 8) -> None:
    source = ["--source", str(IMAGE_DIR / "root.img")] if boot else ["--size-mb", str(size_mb)]
    lab.run("openlpm", "san", "mklun", "-l", name, *source)


def opens(lab: Lab, system: str, identity: str, lun: str, credentials: Path) -> bool:
    done = subprocess.run(
        ["ip", "netns", "exec", f"{lab.state.prefix}-{system}", sys.executable, "-c", PROBE,
         SAN_URL, hosts_key(lab), str(san_tls_dir(lab.state.prefix) / "console-authority.crt"),
         identity, lun, str(credentials)],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 or "HSCLF612" in done.stderr, done.stderr
    return done.returncode == 0


def hosts_key(lab: Lab) -> str:
    return san_hosts_key_file(lab.state.prefix).read_text().strip()


def workdir(lab: Lab) -> Path:
    return site.LabState.directory(lab.state.prefix)


def sequence(lab: Lab, lun: str) -> list[tuple[int, str]]:
    """(number, boot id) of each record on the LUN, up to the first that is missing; a
    record whose checksum is wrong fails the test."""
    return [(r.number, r.boot) for r in
            read_sequence(workdir(lab) / "san" / "luns" / f"{lun}.img")]


def start_on_san(lab: Lab, name: str, wwpns: tuple[str, str]) -> str:
    """A running partition that boots from LUN NAMEroot and keeps its sequence on
    NAMEseq, both mapped to the first WWPN of its virtual FC adapter; returns its boot id
    once it has acknowledged 10 records."""
    root, seq = f"{name}root", f"{name}seq"
    san_lun(lab, root, boot=True)
    san_lun(lab, seq)
    for lun in (root, seq):
        lab.run("openlpm", "san", "map", "-l", lun, "--wwpn", wwpns[0])
    lab.run("mksyscfg", "-r", "lpar", "-m", SOURCE, "-i", PROFILE.format(
        name=name, root=root, seq=seq, adapters=f"virtual_fc_adapters=4/{wwpns[0]}/{wwpns[1]}"))
    lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", name)
    boot = lab.wait_ticks(SOURCE, name, more_than=1)[-1][2]
    wait_acknowledged(lab, SOURCE, name, beyond=10)
    return boot


def test_a_lun_opens_only_for_the_wwpns_it_is_mapped_to(lab: Lab, tmp_path: Path) -> None:
    san_lun(lab, "zoned")
    lab.run("openlpm", "san", "map", "-l", "zoned", "--wwpn", WWPNS[0])

    assert opens(lab, SOURCE, WWPNS[0], "zoned", tmp_path)
    assert not opens(lab, SOURCE, "c0507600000000ff", "zoned", tmp_path), \
        "the SAN let in a WWPN the LUN is not mapped to"

    lab.run("openlpm", "san", "unmap", "-l", "zoned", "--wwpn", WWPNS[0])
    assert not opens(lab, SOURCE, WWPNS[0], "zoned", tmp_path), \
        "an unmapped WWPN still opens the LUN"
    assert lab.values("openlpm", "san", "lslun", "-F", "name:mappings") == [
        "zoned:null"]
    lab.run("openlpm", "san", "rmlun", "-l", "zoned")


# Asks the SAN's control API from a system's namespace: with a key (or none), over TLS
# checking the SAN against the console's authority, presenting a client certificate
# (CERT KEY) or none; prints "answered" or the error's code.
ASK = """
import asyncio, ssl, sys
from pathlib import Path
from openlpm.errors import OpenLpmError
from openlpm.clients.san import SanClient

async def main(san, key, action, authority, certificate="", private_key=""):
    tls = ssl.create_default_context(cadata=Path(authority).read_text())
    if certificate:
        tls.load_cert_chain(certificate, private_key)
    client = SanClient(san, key or None, tls=tls)
    calls = {"list": client.luns, "hosts-key": client.hosts_key,
             "map": lambda: client.map("keyed", "c0507600000000ee")}
    try:
        await calls[action]()
        print("answered")
    except OpenLpmError as exc:
        print(exc.code)
    finally:
        await client.close()

asyncio.run(main(*sys.argv[1:]))
"""


def test_the_san_answers_its_console_by_certificate_and_its_systems_by_key_only(
        lab: Lab, tmp_path: Path) -> None:
    san_lun(lab, "keyed")
    authority = str(san_tls_dir(lab.state.prefix) / "console-authority.crt")
    console = workdir(lab) / "authority" / "agents"
    stranger = CertificateAuthority(tmp_path / "stranger", "another console's authority")
    client_context(stranger, tmp_path / "stranger", "intruder")

    def ask(key: str, action: str, *identity: str, url: str = SAN_URL) -> str:
        return subprocess.run(
            ["ip", "netns", "exec", f"{lab.state.prefix}-{SOURCE}", sys.executable, "-c", ASK,
             url, key, action, authority, *identity], capture_output=True, text=True,
            timeout=60, check=True).stdout.strip()

    hosts = hosts_key(lab)
    assert ask("", "list") == "HSCLF606"
    assert ask("not-the-key", "list") == "HSCLF606"
    assert ask(hosts, "list", url=SAN_URL.replace("https:", "http:")) == "HSCLF107", \
        "the SAN answered in the clear"
    assert ask(hosts, "list") == "answered"
    assert ask(hosts, "map") == "HSCLF607"
    assert ask(hosts, "hosts-key") == "HSCLF607"
    # Another authority's client certificate fails the handshake, key or not.
    assert ask(hosts, "list", str(tmp_path / "stranger" / "client.crt"),
               str(tmp_path / "stranger" / "client.key")) == "HSCLF107"
    assert lab.values("openlpm", "san", "lslun", "-F", "name:mappings")[-1] == "keyed:null"
    assert ask("", "map", str(console / "client.crt"), str(console / "client.key")) == \
        "answered"
    assert lab.values("openlpm", "san", "lslun", "-F", "name:mappings")[-1] == \
        "keyed:c0507600000000ee"
    lab.run("openlpm", "san", "unmap", "-l", "keyed", "--wwpn", "c0507600000000ee")
    lab.run("openlpm", "san", "rmlun", "-l", "keyed")


def test_boot_on_san_partition_migrates_with_its_disks_and_reboots_on_the_target(
        lab: Lab) -> None:
    boot = start_on_san(lab, "web1", WWPNS)
    assert "openlpm root on SAN LUN web1root" in lab.run(
        "openlpm", "console", "-m", SOURCE, "-p", "web1", "--lines", "200").stdout

    fields = "uuid,rmc_state,curr_lpar_proc_compat_mode,msp"
    [before] = lab.values("lssyscfg", "-r", "lpar", "-m", SOURCE, "-F", fields,
                          "--filter", "lpar_names=web1")
    # The HMC's attributes as scripts give them: the VIOS and FC port of the full form,
    # MSP ids (lslparmigr -r msp lists them), the default processor pool.
    assert lab.values("lslparmigr", "-r", "msp", "-m", SOURCE, "-t", TARGET, "-F",
                      "source_msp_id,dest_msp_id") == ["1,1"]
    assert lab.values("lslparmigr", "-r", "manager") == ["remote_lpar_mobility_capable=1"]
    assert lab.values("lslparmigr", "-r", "procpool", "-m", SOURCE, "-t", TARGET, "-F",
                      "lpar_name,shared_proc_pool_ids,shared_proc_pool_names",
                      "--filter", "lpar_names=web1") == ["web1,0,DefaultPool"]
    pool = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "web1", "-i",
                   "shared_proc_pool_name=Pool1", check=False)
    assert pool.returncode == 2 and "HSCLF021" in pool.stderr
    lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "web1", "-i",
            '"virtual_fc_mappings=4/vios1/1//fcs0",source_msp_id=1,dest_msp_id=1,'
            'shared_proc_pool_name=DefaultPool')

    uuid, rmc_state, mode, msp = before.split(",")
    assert len(uuid) == 36 and rmc_state in ("active", "inactive") and mode and msp == "0"
    assert lab.values("lssyscfg", "-r", "lpar", "-m", TARGET, "-F", fields,
                      "--filter", "lpar_names=web1") == [before]
    assert lab.values("lslparmigr", "-r", "migr", "-m", TARGET, "-F",
                      "name,source_msp_id,dest_msp_id")[0] == "web1,1,1"
    # The migration is over: -r lpar still gives every field, empty.
    assert lab.values("lslparmigr", "-r", "lpar", "-m", TARGET, "-F",
                      "name,source_msp_id,dest_msp_id,remote_manager,remote_user",
                      "--filter", "lpar_names=web1") == ["web1,null,null,null,null"]

    # The guest kept running: one boot, and it acknowledges new records from the target.
    lab.assert_one_boot(TARGET, "web1",
                        lab.wait_ticks(TARGET, "web1", more_than=3, received_on=TARGET), boot)
    last = wait_acknowledged(lab, TARGET, "web1", beyond=acknowledged(lab, TARGET, "web1"))
    records = sequence(lab, "web1seq")
    assert len(records) > last, f"record {last} was acknowledged but is not on the LUN"
    assert {b for _, b in records} == {boot}
    # Step 2 logged the target in with the pair's second WWPN; step 6 ended the first's
    # access: the source's own credentials no longer open the LUNs.
    assert lab.values("lshwres", "-r", "virtualio", "--rsubtype", "fc", "-m", TARGET,
                      "-F", "slot_num:wwpn_in_use:luns") == [f"4:{WWPNS[1]}:web1root,web1seq"]
    assert lab.values("openlpm", "san", "lslun", "-F", "name:mappings") == [
        f"web1root:{WWPNS[1]}", f"web1seq:{WWPNS[1]}"]
    source_login = workdir(lab) / SOURCE / "fabric"
    assert not opens(lab, SOURCE, WWPNS[0], "web1seq", source_login)
    record = lab.api("/partitions/web1/migration")
    journal = lab.api(f"/migrations/{record['id']}/journal")
    assert any(e["phase"] == "seen" and "web1root, web1seq" in e["detail"] for e in journal)

    # A reboot on the target boots from the same LUN and goes on with the sequence.
    lab.run("chsysstate", "-r", "lpar", "-m", TARGET, "-o", "shutdown", "--immed",
            "-n", "web1")
    before = len(sequence(lab, "web1seq"))
    lab.run("chsysstate", "-r", "lpar", "-m", TARGET, "-o", "on", "-n", "web1")
    wait_acknowledged(lab, TARGET, "web1", beyond=before + 5)
    records = sequence(lab, "web1seq")
    boots = [b for _, b in records]
    assert boots[0] == boot and boots[-1] != boot and len(set(boots)) == 2, \
        "the reboot did not go on with the same sequence"
    assert len(records) > before + 5


def test_a_vscsi_lun_must_be_mapped_to_the_target_before_the_partition_moves(
        lab: Lab) -> None:
    san_lun(lab, "db1root", boot=True)
    lab.run("openlpm", "san", "map", "-l", "db1root", "--host", SOURCE)
    lab.run("mksyscfg", "-r", "lpar", "-m", SOURCE, "-i", PROFILE.format(
        name="db1", root="db1root", seq="none", adapters="virtual_scsi_adapters=2/db1root"))
    lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", "db1")
    lab.wait_ticks(SOURCE, "db1", more_than=1)

    refused = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "db1",
                      check=False)
    assert refused.returncode == 6
    assert "HSCLF611" in refused.stderr and "db1root" in refused.stderr
    assert f"not mapped to managed system {TARGET}" in refused.stderr

    lab.run("openlpm", "san", "map", "-l", "db1root", "--host", TARGET)
    lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "db1")
    assert lab.values("lshwres", "-r", "virtualio", "--rsubtype", "scsi", "-m", SOURCE,
                      "-F", "lpar_name:slot_num:luns") == ["db1:2:db1root"]


def test_an_unreachable_san_stops_validation_and_the_partition_keeps_its_disks(
        lab: Lab) -> None:
    wwpns = ("c050760000000b01", "c050760000000b02")
    boot = start_on_san(lab, "app1", wwpns)
    before = acknowledged(lab, SOURCE, "app1")

    lab.link("san", up=False)
    try:
        refused = lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "app1",
                          check=False)
    finally:
        lab.link("san", up=True)

    assert refused.returncode == 6
    assert "HSCLF614" in refused.stderr and "does not answer" in refused.stderr
    assert lab.values("lssyscfg", "-r", "lpar", "-m", TARGET, "-F", "name").count("app1") == 0
    assert lab.values("openlpm", "san", "lslun", "-F", "name:mappings")[-2:] == [
        f"app1root:{wwpns[0]}", f"app1seq:{wwpns[0]}"]
    # The SAN is back: the partition, which waited for its disk, writes on, same boot.
    after = wait_acknowledged(lab, SOURCE, "app1", beyond=before + 10)
    assert {b for _, b in sequence(lab, "app1seq")} == {boot}
    assert len(sequence(lab, "app1seq")) > after


def end_export(lab: Lab, lun: str) -> None:
    """End a LUN's export at once (SIGKILL), as a crashed storage controller would."""
    exports = workdir(lab) / "san" / "exports"
    pid = int((exports / f"{lun}.pid").read_text())
    assert runs_with(pid, str(exports / f"{lun}.qmp").encode()), f"no export of {lun}"
    os.kill(pid, signal.SIGKILL)


def test_a_lun_export_that_restarts_costs_the_partition_a_pause_not_an_io_error(
        lab: Lab) -> None:
    wwpns = ("c050760000000d01", "c050760000000d02")
    boot = start_on_san(lab, "blip1", wwpns)
    before = acknowledged(lab, SOURCE, "blip1")

    # Both its LUNs' exports end (the root one too); the SAN starts them again when it
    # restarts, on the same ports.
    for lun in ("blip1root", "blip1seq"):
        end_export(lab, lun)
    time.sleep(2)
    lab.restart("san")

    after = wait_acknowledged(lab, SOURCE, "blip1", beyond=before + 10)
    assert {b for _, b in sequence(lab, "blip1seq")} == {boot}
    assert len(sequence(lab, "blip1seq")) > after
    lab.assert_one_boot(SOURCE, "blip1", lab.ticks(SOURCE, "blip1"), boot)
    console = lab.run("openlpm", "console", "-m", SOURCE, "-p", "blip1", "--lines",
                      "2000").stdout
    assert "failed" not in console and "I/O error" not in console, console[-2000:]
    lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "shutdown", "--immed",
            "-n", "blip1")


def test_an_inactive_partition_moves_its_npiv_mappings_to_the_other_wwpn(lab: Lab) -> None:
    wwpns = ("c050760000000c01", "c050760000000c02")
    san_lun(lab, "idle1root", boot=True)
    lab.run("openlpm", "san", "map", "-l", "idle1root", "--wwpn", wwpns[0])
    lab.run("mksyscfg", "-r", "lpar", "-m", SOURCE, "-i", PROFILE.format(
        name="idle1", root="idle1root", seq="none",
        adapters=f"virtual_fc_adapters=4/{wwpns[0]}/{wwpns[1]}"))
    lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", "idle1")
    lab.wait_ticks(SOURCE, "idle1", more_than=0)
    lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "shutdown", "--immed",
            "-n", "idle1")

    lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "idle1")

    assert lab.values("lshwres", "-r", "virtualio", "--rsubtype", "fc", "-m", TARGET,
                      "--filter", "lpar_names=idle1", "-F", "wwpn_in_use:luns") == [
        f"{wwpns[1]}:idle1root"]
    assert f"idle1root:{wwpns[1]}" in lab.values("openlpm", "san", "lslun", "-F",
                                                 "name:mappings")
    lab.run("chsysstate", "-r", "lpar", "-m", TARGET, "-o", "on", "-n", "idle1")
    lab.wait_ticks(TARGET, "idle1", more_than=0, received_on=TARGET)
    on_target = [line.split(None, 2)[2] for line in lab.run(
        "openlpm", "console", "-m", TARGET, "-p", "idle1", "--lines", "200",
        "--stamps").stdout.splitlines() if line.split()[1:2] == [TARGET]]
    assert "openlpm root on SAN LUN idle1root (/dev/vda)" in on_target


def test_redundant_paths_are_kept_as_mpio_asks_and_mappings_choose_the_io_service(
        lab: Lab) -> None:
    san_lun(lab, "db2root", boot=True)
    for path in (["--host", SOURCE, "--io-service", "2"], ["--host", TARGET]):
        lab.run("openlpm", "san", "map", "-l", "db2root", *path)
    two_paths = '"virtual_scsi_adapters=2/db2root/1,3/db2root/2"'
    refused = lab.run("mksyscfg", "-r", "lpar", "-m", TARGET, "-i", PROFILE.format(
        name="db2", root="db2root", seq="none", adapters=two_paths), check=False)
    assert refused.returncode != 0 and "HSCLF615" in refused.stderr
    assert f"managed system {TARGET} has 1" in refused.stderr

    # The LUN is mapped to the source's second I/O service only: the partition boots
    # through its adapter there.
    lab.run("mksyscfg", "-r", "lpar", "-m", SOURCE, "-i", PROFILE.format(
        name="db2", root="db2root", seq="none", adapters=two_paths))
    lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", "db2")
    boot = lab.wait_ticks(SOURCE, "db2", more_than=1)[-1][2]
    assert lab.values("lshwres", "-r", "virtualio", "--rsubtype", "scsi", "-m", SOURCE,
                      "--filter", "lpar_names=db2", "-F", "slot_num:io_service:backing") == [
        f'2:1:"host:{SOURCE}"', f'3:2:"host:{SOURCE}:2"']  # quoted: they hold the delimiter

    # The target has one I/O service: a lost path is a warning, an error when required.
    preferred = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "db2")
    assert "HSCLF616" in preferred.stdout + preferred.stderr
    for required in (["--mpio", "1"], ["--redundantvios", "1"]):
        refused = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "db2",
                          *required, check=False)
        assert refused.returncode == 6, required
        assert "HSCLF616" in refused.stderr and "2 I/O services and sys2 has 1" in refused.stderr
    lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "db2",
            "--redundantvios", "0")
    # Where each adapter would land: the target's one I/O service, the only possible one.
    assert lab.values("lslparmigr", "-r", "virtualio", "-m", SOURCE, "-t", TARGET,
                      "--filter", "lpar_names=db2", "-F",
                      "suggested_virtual_scsi_mappings:possible_virtual_scsi_mappings") == [
        "2//1,3//1:2//1,3//1"]

    lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "db2", "--mpio", "2")

    lab.assert_one_boot(TARGET, "db2",
                        lab.wait_ticks(TARGET, "db2", more_than=3, received_on=TARGET), boot)
    assert lab.values("lshwres", "-r", "virtualio", "--rsubtype", "scsi", "-m", TARGET,
                      "--filter", "lpar_names=db2", "-F", "slot_num:io_service") == [
        "2:1", "3:1"]
    record = lab.api("/partitions/db2/migration")
    journal = lab.api(f"/migrations/{record['id']}/journal")
    assert any(e["phase"] == "moved" and "virtual SCSI slot 3 from I/O service 2 to 1"
               in e["detail"] for e in journal)

    # Back to the source: left where they are now, both adapters would stay on its first
    # I/O service, which does not see the LUN; mapped, slot 3 returns to the second.
    refused = lab.run("migrlpar", "-o", "v", "-m", TARGET, "-t", SOURCE, "-p", "db2",
                      check=False)
    assert refused.returncode == 6 and "HSCLF611" in refused.stderr
    assert lab.values("lslparmigr", "-r", "virtualio", "-m", TARGET, "-t", SOURCE,
                      "--filter", "lpar_names=db2", "-F",
                      "suggested_virtual_scsi_mappings:possible_virtual_scsi_mappings") == [
        "2//1,3//1:2//1,2//2,3//1,3//2"]
    beyond = lab.run("migrlpar", "-o", "v", "-m", TARGET, "-t", SOURCE, "-p", "db2",
                     "-i", "virtual_scsi_mappings=3//3", check=False)
    assert beyond.returncode == 6 and "HSCLF617" in beyond.stderr
    assert f"I/O service 3, and managed system {SOURCE} has 2" in beyond.stderr

    earlier = len([t for t in lab.ticks(TARGET, "db2") if t[3] == SOURCE])
    lab.run("migrlpar", "-o", "m", "-m", TARGET, "-t", SOURCE, "-p", "db2",
            "-i", "virtual_scsi_mappings=3//2")

    ticks = lab.wait_ticks(SOURCE, "db2", more_than=earlier + 3, received_on=SOURCE)
    lab.assert_one_boot(SOURCE, "db2", ticks, boot)
    assert lab.values("lshwres", "-r", "virtualio", "--rsubtype", "scsi", "-m", SOURCE,
                      "--filter", "lpar_names=db2", "-F", "slot_num:io_service") == [
        "2:1", "3:2"]
