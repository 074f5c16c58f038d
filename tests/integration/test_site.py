"""A site where nothing is shared but the network: openlpm installed from its wheel on
each host and run by its systemd units, systems added the HMC way, and the acceptance of
a live move through it.

The console, the SAN and two managed systems are hosts of their own (site_hosts.py):
each its own network namespace and its own mount namespace with private /etc/openlpm,
/var/lib/openlpm, /run/openlpm and /opt/openlpm, where neither the lab's files, nor the
other hosts', nor the checkout can be seen. Everything an administrator does happens on
the console host's command line; what is read from another host (an enrollment code) is
read as ``ssh HOST cat FILE`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from openlpm import config
from openlpm.lab import network
from openlpm.lab.accel import probe_accelerator
from openlpm.lab.image import IMAGE_DIR, KERNEL_ARGS, build_image
from openlpm.lab.network import Node
from openlpm.lab.sequence import read_sequence
from openlpm.lab.site import LabState
from openlpm.paths import RUN_ROOT
from tests.integration.conftest import MEASURED, Lab
from tests.integration.partition_checks import (
    acknowledged,
    echo_answers,
    in_client,
    wait_acknowledged,
    wait_echo,
)
from tests.integration.site_hosts import (
    SITE_PREFIX,
    Host,
    end_host,
    install_all,
    prepare_wheels,
    remove_site,
    remove_stale_sites,
    site_dir,
)

CONSOLE_ADDRESS, SAN_ADDRESS, CLIENT_ADDRESS = "198.18.0.2", "198.18.0.3", "198.18.0.4"
SYSTEMS = {"sys1": "198.18.0.11", "sys2": "198.18.0.12"}
HMC_PORT, SAN_PORT, AGENT_PORT = 8480, 8490, 8470
MOVER_CONTROL_PORT, MOVER_DATA_PORT = 8471, 8472
VLAN = 10
UNITS = {"hmc": ["hmc"], "san": ["san"], **{name: ["mover", "agent"] for name in SYSTEMS}}
# The console's command line, as its administrator sets it up.
CONSOLE_ENV = {"OPENLPM_HMC": f"https://{CONSOLE_ADDRESS}:{HMC_PORT}",
               "OPENLPM_HMC_CA": "/var/lib/openlpm/tls/console.crt"}
ADMIN_PASSWORD = "site-admin-4f9c2e"
READY_TIMEOUT_S = 90.0
# A TCP stream's pause through a move: its downtime and, when a segment sent during the
# switch-over was lost, a retransmission timeout (as test_virtual_ethernet allows).
PAUSE_MARGIN_MS = 1000
WWPNS = ("c050760000000e01", "c050760000000e02")
PARTITION, PARTITION_IP = "web1", "198.18.10.21"
PROFILE = (f"name={PARTITION},profile_name=default,min_mem=128,desired_mem=256,"
           f"max_mem=256,min_procs=1,desired_procs=1,max_procs=1,"
           f"virtual_eth_adapters=2/{VLAN},virtual_fc_adapters=4/{WWPNS[0]}/{WWPNS[1]},"
           f"kernel_args=openlpm.root={PARTITION}root openlpm.seq={PARTITION}seq "
           f"openlpm.ip={PARTITION_IP}/24")
# A call of the console's REST API (METHOD PATH [JSON]) from the console host, signed in
# as openlpm login left its administrator: prints the status, then the body.
API = """
import json, os, sys, httpx
from openlpm.clients.credentials import token_for
url = os.environ["OPENLPM_HMC"]
reply = httpx.request(sys.argv[1], url + sys.argv[2],
                      json=json.loads(sys.argv[3]) if len(sys.argv) > 3 else None,
                      headers={"Authorization": f"Bearer {token_for(url)}"},
                      verify=os.environ["OPENLPM_HMC_CA"], timeout=60)
print(reply.status_code)
print(reply.text)
"""


@dataclass
class Site(Lab):
    """The site, used as a lab: commands run on the console host's command line."""

    hosts: dict[str, Host] = field(default_factory=dict)
    # The version of the wheel every host runs.
    version: str = ""
    supervisors: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def console(self) -> Host:
        return self.hosts["hmc"]

    def run(self, *argv: str, check: bool = True, stdin: str = "",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.console.run(f"/opt/openlpm/bin/{argv[0]}", *argv[1:],
                                env=CONSOLE_ENV | (env or {}), stdin=stdin, check=check)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON body) of a call of the console's REST API from its host."""
        argv = [method, path] + ([json.dumps(body)] if body is not None else [])
        out = self.console.run("/opt/openlpm/bin/python", "-c", API, *argv,
                               env=CONSOLE_ENV).stdout
        status, _, text = out.partition("\n")
        return int(status), json.loads(text) if text.strip() else None

    def api(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body

    def qemu_pids(self, system: str, partition: str = "") -> list[int]:
        """QEMU processes of a partition (or of all) on a system's host."""
        marker = f"/var/lib/openlpm/agent/run/{partition}".rstrip("/").encode() + b"/"
        host = self.hosts[system]
        pids = []
        for pid in host.pids():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"qemu-system") and marker in cmdline:
                pids.append(pid)
        return pids


def configurations(accel: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Each host's /etc/openlpm/ROLE.toml, as its administrator writes them."""
    systems: dict[str, dict[str, dict[str, Any]]] = {}
    for name, address in SYSTEMS.items():
        systems[name] = {
            "mover": {"name": f"{name}-msp1", "control": f"{address}:{MOVER_CONTROL_PORT}",
                      "data": f"{address}:{MOVER_DATA_PORT}",
                      "state-dir": "/var/lib/openlpm/mover",
                      "incoming-dir": "/var/lib/openlpm/agent/run"},
            "agent": {"name": name, "listen": f"{address}:{AGENT_PORT}",
                      "state-dir": "/var/lib/openlpm/agent", "cpus": 4, "memory-mb": 2048,
                      "accel": accel, "kernel": "/var/lib/openlpm/boot/vmlinuz",
                      "initrd": "/var/lib/openlpm/boot/initrd.img",
                      "kernel-args": KERNEL_ARGS,
                      "mover-socket": "/var/lib/openlpm/mover/local.sock",
                      "vlans": [VLAN]}}
    return {
        "hmc": {"hmc": {"name": "hmc1", "listen": f"{CONSOLE_ADDRESS}:{HMC_PORT}",
                        "db": "/var/lib/openlpm/hmc.db", "tls-dir": "/var/lib/openlpm/tls",
                        "admin-password-file": "/etc/openlpm/admin-password"}},
        "san": {"san": {"name": "san1", "listen": f"{SAN_ADDRESS}:{SAN_PORT}",
                        "data": SAN_ADDRESS, "state-dir": "/var/lib/openlpm/san",
                        "import-dir": "/var/lib/openlpm/images"}},
        **systems}


S = TypeVar("S", bound="Site")


@contextlib.contextmanager
def module_site(kind: type[S], *programs: str) -> Iterator[S]:
    """A site of ``kind`` with its directory made (skipped on a machine that cannot run
    one, an earlier killed run's sites removed first); whatever its hosts run is ended
    and they are removed afterwards, even after a failure."""
    if os.geteuid() != 0:
        pytest.skip("the site needs root (namespaces, mounts)")
    for program in ("qemu-system-x86_64", "unshare", "ip", *programs):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")
    remove_stale_sites()
    prefix = f"{SITE_PREFIX}{os.getpid()}"
    made = kind(LabState(prefix=prefix))
    site_dir(prefix).mkdir(mode=0o700, parents=True)
    try:
        yield made
    finally:
        for name, host in made.hosts.items():
            end_host(host, made.supervisors.get(name))
        remove_site(prefix, list(made.hosts.values()))


def wait_for(what: str, ready: Any, timeout: float = READY_TIMEOUT_S) -> Any:
    """Poll ``ready()`` until it returns something true; a starting service has no
    event to wait on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := ready():
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def bring_up(site: Site, tmp: Path) -> None:
    """Everything up to the services running from their units on every host."""
    prefix = site.state.prefix
    image = build_image(IMAGE_DIR)
    accel = os.environ.get("OPENLPM_ACCEL") or asyncio.run(probe_accelerator(image))
    started = time.monotonic()
    wheelhouse, wheels = prepare_wheels(tmp)
    site.version = next(wheels.glob("openlpm-*.whl")).name.split("-")[1]
    MEASURED.append(("site: wheel and wheelhouse", f"{time.monotonic() - started:.1f} s"))

    network.create_switch(prefix)
    addresses = {"hmc": CONSOLE_ADDRESS, "san": SAN_ADDRESS, **SYSTEMS}
    for name, address in addresses.items():
        host = Host(prefix, name, Node(f"{prefix}-{name}", name, address))
        network.attach(prefix, host.node)
        host.make()
        site.hosts[name] = host
    network.attach_client(prefix, Node(f"{prefix}-client", "client", CLIENT_ADDRESS), (VLAN,))
    # What the lab keeps in the tree every host must not see.
    (RUN_ROOT / "labs").mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    install_all(list(site.hosts.values()), wheelhouse, wheels)
    MEASURED.append(("site: four hosts installed from the wheel",
                     f"{time.monotonic() - started:.1f} s"))
    for name, roles in configurations(accel).items():
        host = site.hosts[name]
        host.run("/opt/openlpm/bin/openlpm", "install-units", *UNITS[name], "--no-reload")
        for role, settings in roles.items():
            host.write(f"/etc/openlpm/{role}.toml", config.render(settings))
    site.console.write("/etc/openlpm/admin-password", ADMIN_PASSWORD + "\n")
    for system in SYSTEMS:
        for part in ("vmlinuz", "initrd.img"):
            target = site.hosts[system].path(f"/var/lib/openlpm/boot/{part}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(IMAGE_DIR / part, target)
    images = site.hosts["san"].path("/var/lib/openlpm/images")
    images.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(IMAGE_DIR / "root.img", images / "root.img")
    for name, host in site.hosts.items():
        site.supervisors[name] = host.supervise(
            [f"openlpm-{role}.service" for role in UNITS[name]])


def connect(site: Site) -> None:
    """The administrator signs in on the console and adds the SAN and the systems."""
    until_done(site, "openlpm", "login", "-u", "hscroot", stdin=ADMIN_PASSWORD + "\n")
    san = site.hosts["san"]
    code = wait_for("the SAN wrote its enrollment code", lambda: san.path(
        "/var/lib/openlpm/san/tls/enrollment-code").exists() and san.read(
        "/var/lib/openlpm/san/tls/enrollment-code").strip())
    until_done(site, "mksysconn", "-r", "san", "--ip", SAN_ADDRESS, "--passwd", code)
    for system, address in SYSTEMS.items():
        host = site.hosts[system]
        code = wait_for(f"{system}'s agent wrote its enrollment code", lambda h=host: h.path(
            "/var/lib/openlpm/agent/tls/enrollment-code").exists() and h.read(
            "/var/lib/openlpm/agent/tls/enrollment-code").strip())
        until_done(site, "mksysconn", "--ip", address, "--passwd", code)
    for system in SYSTEMS:
        wait_ready(site, system)


def until_done(site: Site, *argv: str, stdin: str = "") -> None:
    """Run a command on the console host until it succeeds (a service it reaches may be
    starting); a failure shows the command's last answer."""
    tried: list[subprocess.CompletedProcess[str]] = []

    def done() -> bool:
        tried.append(site.run(*argv, stdin=stdin, check=False))
        return tried[-1].returncode == 0

    try:
        wait_for(f"{argv[0]} succeeded", done)
    except AssertionError as failed:
        raise AssertionError(f"{failed}; its last answer:\n{tried[-1].stdout}"
                             f"{tried[-1].stderr}") from None


def wait_ready(site: Site, system: str) -> None:
    """Until the console sees the system's agent and its mover service."""
    wait_for(f"the console saw {system} with its mover", lambda: bool(
        (site.api(f"/systems/{system}").get("info") or {}).get("movers")))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with module_site(Site) as made:
        bring_up(made, tmp_path_factory.mktemp("site"))
        connect(made)
        yield made


INSIDE = """
import json, os, sys, openlpm
print(json.dumps({"openlpm": openlpm.__file__, "version": openlpm.__version__,
                  "exists": {p: os.path.exists(p) for p in sys.argv[1:]}}))
"""


def test_each_host_runs_its_own_installation_and_sees_no_other_hosts_files(
        site: Site) -> None:
    mounts: dict[str, set[int]] = {}
    elsewhere = [str(RUN_ROOT / "labs"), str(IMAGE_DIR), str(Path(__file__).resolve()),
                 *(str(host.root) for host in site.hosts.values())]
    for name, host in site.hosts.items():
        seen = json.loads(host.run("/opt/openlpm/bin/python", "-c", INSIDE,
                                   *elsewhere).stdout)
        assert seen["openlpm"].startswith("/opt/openlpm/lib/"), (name, seen["openlpm"])
        assert seen["version"] == site.version
        assert not any(seen["exists"].values()), (name, seen["exists"])
        # Each unit's main process is the installation's interpreter, with its config.
        for role in UNITS[name]:
            pid = host.main_pids(f"openlpm-{role}.service")[-1]
            python, *argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
            assert python in ("/opt/openlpm/bin/python", "/opt/openlpm/bin/python3")
            assert argv == ["-m", "openlpm", role, "serve", "--config",
                            f"/etc/openlpm/{role}.toml"]
            assert host.owns(pid)
            mounts.setdefault(name, set()).add(os.stat(f"/proc/{pid}/ns/mnt").st_ino)
    # Each host's services share one mount namespace: the host's, not the test machine's
    # nor another host's.
    namespaces = [next(iter(m)) for m in mounts.values() if len(m) == 1]
    assert len(set(namespaces)) == len(site.hosts), mounts
    assert os.stat("/proc/self/ns/mnt").st_ino not in namespaces
    assert site.hosts["sys1"].run("sh", "-c", "ls /var/lib/openlpm").stdout.split() == \
        sorted(["agent", "boot", "mover"])


def test_the_console_lists_the_connections_its_administrator_made(site: Site) -> None:
    listed = site.values("lssysconn", "-r", "all", "-F",
                         "resource_type,ipaddr,name,state,version")
    assert sorted(listed) == sorted([
        f"san,{SAN_ADDRESS},san1,Connected,{site.version}",
        *(f"sys,{address},{name},Connected,{site.version}"
          for name, address in SYSTEMS.items())]), listed
    assert site.values("lssyscfg", "-r", "sys", "-F", "name,agent_version") == [
        f"{name},{site.version}" for name in SYSTEMS]


def move(site: Site, source: str, target: str) -> float:
    """Validate and move the partition; returns the move's downtime in seconds."""
    validation = site.run("migrlpar", "-o", "v", "-m", source, "-t", target, "-p", PARTITION)
    assert "Error" not in validation.stderr
    site.run("migrlpar", "-o", "m", "-m", source, "-t", target, "-p", PARTITION)
    assert site.values("lssyscfg", "-r", "lpar", "-m", target, "-F", "name,state",
                       "--filter", f"lpar_names={PARTITION}") == [f"{PARTITION},Running"]
    assert site.qemu_pids(source) == []
    assert len(site.qemu_pids(target, PARTITION)) == 1
    record = site.api(f"/partitions/{PARTITION}/migration")
    assert record["state"] == "Migration Complete" and record["downtime_ms"] is not None
    return float(record["downtime_ms"]) / 1000


@pytest.fixture(scope="module")
def partition(site: Site) -> str:
    """The partition running on sys1, booted from its root LUN, writing its sequence
    LUN and answering on VLAN 10; returns its boot id."""
    for lun, source in ((f"{PARTITION}root", ["--source", "/var/lib/openlpm/images/root.img"]),
                        (f"{PARTITION}seq", ["--size-mb", "8"])):
        site.run("openlpm", "san", "mklun", "-l", lun, *source)
        site.run("openlpm", "san", "map", "-l", lun, "--wwpn", WWPNS[0])
    site.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", PROFILE)
    site.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", PARTITION)
    boot: str = site.wait_ticks("sys1", PARTITION, more_than=1)[-1][2]
    wait_acknowledged(site, "sys1", PARTITION, beyond=10)
    wait_echo(site, PARTITION_IP)
    return boot


def test_a_san_booted_partition_moves_there_and_back_keeping_its_client_and_its_disk(
        site: Site, partition: str) -> None:
    boot = partition
    client = subprocess.Popen(in_client(site, sys.executable, "-m", "openlpm.lab.echo_client",
                                        PARTITION_IP), stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        downtimes = [move(site, "sys1", "sys2"), move(site, "sys2", "sys1")]
        time.sleep(2)
    finally:
        client.send_signal(signal.SIGTERM)
        out, _ = client.communicate(timeout=120)

    # One boot, its tick counter without a gap or a repeat, received on sys1, sys2, sys1.
    ticks = site.wait_ticks("sys1", PARTITION, more_than=len(site.ticks("sys1", PARTITION)))
    site.assert_kept_running("sys1", PARTITION, ticks, boot)
    hosts = [where for _, _, _, where in ticks]
    assert [h for i, h in enumerate(hosts) if i == 0 or hosts[i - 1] != h] == [
        "sys1", "sys2", "sys1"]
    # The client's connection through both moves: never reset, every line echoed.
    stream = json.loads(out)
    assert stream["error"] is None, f"the connection broke: {stream['error']}"
    assert stream["echoed"] == stream["sent"] > 500
    silence = max(b[0] - a[0] for a, b in zip(ticks, ticks[1:], strict=False))
    MEASURED.append(("site: two moves of a SAN-booted partition", (
        f"downtimes {', '.join(f'{d * 1000:.0f} ms' for d in downtimes)}; longest TCP "
        f"pause {stream['longest_pause_ms']:.0f} ms; longest console silence "
        f"{silence:.2f} s")))
    assert stream["longest_pause_ms"] <= max(downtimes) * 1000 + PAUSE_MARGIN_MS
    # Its disk: every acknowledged record is on the LUN, all from the one boot.
    last = wait_acknowledged(site, "sys1", PARTITION,
                             beyond=acknowledged(site, "sys1", PARTITION))
    records = sequence(site)
    assert len(records) > last, f"record {last} was acknowledged but is not on the LUN"
    assert {record.boot for record in records} == {boot}


def sequence(site: Site) -> list[Any]:
    """The partition's records, read on the SAN host from its LUN's image file; the
    reader fails on a record whose checksum is wrong and stops at the first gap."""
    return read_sequence(site.hosts["san"].path(
        f"/var/lib/openlpm/san/luns/{PARTITION}seq.img"))


def test_a_killed_agent_is_restarted_by_its_unit_and_its_partition_runs_on(
        site: Site, partition: str) -> None:
    system = "sys1"
    host = site.hosts[system]
    assert site.values("lssyscfg", "-r", "lpar", "-m", system, "-F", "name,state") == [
        f"{PARTITION},Running"]
    before = site.wait_ticks(system, PARTITION, more_than=1)
    boot = partition
    qemu = site.qemu_pids(system, PARTITION)
    agent = host.main_pids("openlpm-agent.service")[-1]
    assert host.owns(agent) and b"agent\0serve" in Path(f"/proc/{agent}/cmdline").read_bytes()

    os.kill(agent, signal.SIGKILL)

    restarted = wait_for("the supervisor restarted the agent", lambda: [
        pid for pid in host.main_pids("openlpm-agent.service") if pid != agent])[-1]
    journal = host.journal_path.read_text()
    assert "openlpm-agent.service was killed by SIGKILL; restarting in" in journal
    assert "(Restart=on-failure)" in journal
    assert host.owns(restarted)
    wait_ready(site, system)
    assert site.qemu_pids(system, PARTITION) == qemu, "the partition's QEMU was replaced"
    wait_for(f"{PARTITION} seen Running again", lambda: site.values(
        "lssyscfg", "-r", "lpar", "-m", system, "-F", "name,state") == [
        f"{PARTITION},Running"])
    ticks = site.wait_ticks(system, PARTITION, more_than=len(before) + 3)
    site.assert_one_boot(system, PARTITION, ticks, boot)
    assert ticks[-1][1] > before[-1][1]
    assert echo_answers(site, PARTITION_IP)
    assert {record.boot for record in sequence(site)} == {boot}


def test_a_systems_units_stopped_and_started_again_leave_its_partition_running(
        site: Site, partition: str) -> None:
    """As ``systemctl stop`` and ``start`` of the agent and mover would: the agent's
    KillMode=process leaves the partition's QEMU running, and the agent that starts
    again takes it up."""
    system = "sys1"
    host = site.hosts[system]
    before = site.wait_ticks(system, PARTITION, more_than=1)
    boot = partition
    qemu = site.qemu_pids(system, PARTITION)
    assert len(qemu) == 1

    end_host_units(site, system)
    assert "openlpm-agent.service stopped (KillMode=process)" in \
        host.journal_path.read_text()
    assert site.qemu_pids(system, PARTITION) == qemu
    site.supervisors[system] = host.supervise(
        [f"openlpm-{role}.service" for role in UNITS[system]])

    wait_ready(site, system)
    wait_for(f"{PARTITION} seen Running again", lambda: site.values(
        "lssyscfg", "-r", "lpar", "-m", system, "-F", "name,state") == [
        f"{PARTITION},Running"])
    assert site.qemu_pids(system, PARTITION) == qemu
    ticks = site.wait_ticks(system, PARTITION, more_than=len(before) + 3)
    site.assert_one_boot(system, PARTITION, ticks, boot)
    assert echo_answers(site, PARTITION_IP)


def end_host_units(site: Site, system: str) -> None:
    """Stop a host's units: SIGTERM to its supervisor, which stops them as their
    KillMode says."""
    supervisor = site.supervisors.pop(system)
    supervisor.terminate()
    assert supervisor.wait(60) == 0
