"""Version skew, as a site upgrading one release at a time meets it: a console of this
release (HEAD's wheel) and a managed system still on the last 0.1 release, which an
administrator of 0.1.0 installed and started by hand, beside a system of this release.

The hosts are test_site's (site_hosts.py): each its own network and mount namespace
with a private /opt/openlpm installed from a wheel, its services run by the supervisor
from unit files. "old" runs the wheel of OLD_RELEASE (``git archive`` of that commit):
0.1.0 had no ``install-units`` and no ``--config``, so its units are written here with
the command lines 0.1.0 took (its lab's ``_start_system``), as its administrator would
have written them. "new" and the console run HEAD's wheel and units.

What it shows: ``mksysconn`` of the old system says clearly why it cannot add it
(HSCLF557: a 0.1 agent does not say its name) and what to do; the old system added the
0.1 way (POST /systems with its name, URL and enrollment code) is then managed beside
the new one (lssyscfg -r sys shows each one's version, lssysconn both Connected), and a
running partition moves live off the old system onto the new one, the rolling upgrade's
move, with one boot; the move back onto 0.1 is refused at validation (HSCLF403). Then
the emptied system is upgraded in place to this release (its state kept): the console
manages it as before, now at 0.2.0, and the partition moves back onto it, one boot.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openlpm import config
from openlpm.lab import network
from openlpm.lab.accel import probe_accelerator
from openlpm.lab.image import IMAGE_DIR, KERNEL_ARGS, build_image
from openlpm.lab.network import Node
from openlpm.paths import RUN_ROOT
from tests.integration.conftest import MEASURED
from tests.integration.site_hosts import (
    Host,
    install_all,
    prepare_wheels,
)
from tests.integration.test_site import (
    ADMIN_PASSWORD,
    Site,
    module_site,
    until_done,
    wait_for,
)

# The last 0.1.0 commit: the release before the version-skew rule and mksysconn.
OLD_RELEASE = "4735a0d"
OLD_VERSION = "0.1.0"
CONSOLE_ADDRESS = "198.18.0.2"
SYSTEMS = {"old": "198.18.0.11", "new": "198.18.0.12"}
HMC_PORT, AGENT_PORT, MOVER_CONTROL_PORT, MOVER_DATA_PORT = 8480, 8470, 8471, 8472
PARTITION = "lpar1"
PROFILE = (f"name={PARTITION},profile_name=default,min_mem=128,desired_mem=256,"
           f"max_mem=256,min_procs=1,desired_procs=1,max_procs=1")
# A call of the console's REST API (METHOD PATH [JSON]) from the console host, signed
# in as openlpm login left its administrator; prints the status, then the body.
def old_units(accel: str) -> dict[str, str]:
    """The old system's units, as an administrator of 0.1.0 wrote them: its mover's and
    agent's command lines as that release took them (no configuration file), run as
    this release's units run them."""
    address = SYSTEMS["old"]
    python = "/opt/openlpm/bin/python"
    mover = [python, "-m", "openlpm", "mover", "serve", "--name", "old-msp1",
             "--control", f"{address}:{MOVER_CONTROL_PORT}",
             "--data", f"{address}:{MOVER_DATA_PORT}",
             "--state-dir", "/var/lib/openlpm/mover",
             "--incoming-dir", "/var/lib/openlpm/agent/run"]
    agent = [python, "-m", "openlpm", "agent", "serve", "--name", "old",
             "--listen", f"{address}:{AGENT_PORT}", "--state-dir", "/var/lib/openlpm/agent",
             "--cpus", "4", "--memory-mb", "2048", "--accel", accel,
             "--kernel", "/var/lib/openlpm/boot/vmlinuz",
             "--initrd", "/var/lib/openlpm/boot/initrd.img", "--kernel-args", KERNEL_ARGS,
             "--mover-socket", "/var/lib/openlpm/mover/local.sock"]
    return {
        "mover": unit("openlpm mover service (0.1.0, by hand)", mover, ""),
        "agent": unit("openlpm agent (0.1.0, by hand)", agent,
                      "Wants=openlpm-mover.service\nAfter=openlpm-mover.service\n",
                      "KillMode=process\n")}


def unit(description: str, argv: list[str], after: str, extra: str = "") -> str:
    return (f"[Unit]\nDescription={description}\n{after}\n[Service]\nType=simple\n"
            f"ExecStart={shlex.join(argv)}\n{extra}Restart=on-failure\nRestartSec=5\n"
            f"StandardOutput=journal\nStandardError=journal\nUMask=0077\n\n"
            f"[Install]\nWantedBy=multi-user.target\n")


def new_configurations(accel: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The console's and the new system's /etc/openlpm/ROLE.toml."""
    return {
        "hmc": {"hmc": {"name": "hmc1", "listen": f"{CONSOLE_ADDRESS}:{HMC_PORT}",
                        "db": "/var/lib/openlpm/hmc.db", "tls-dir": "/var/lib/openlpm/tls",
                        "admin-password-file": "/etc/openlpm/admin-password"}},
        "new": system_configuration("new", accel)}


def system_configuration(name: str, accel: str) -> dict[str, dict[str, Any]]:
    """A system's mover.toml and agent.toml (the old system's, once upgraded, says
    what its 0.1.0 command lines said)."""
    address = SYSTEMS[name]
    return {"mover": {"name": f"{name}-msp1", "control": f"{address}:{MOVER_CONTROL_PORT}",
                      "data": f"{address}:{MOVER_DATA_PORT}",
                      "state-dir": "/var/lib/openlpm/mover",
                      "incoming-dir": "/var/lib/openlpm/agent/run"},
            "agent": {"name": name, "listen": f"{address}:{AGENT_PORT}",
                      "state-dir": "/var/lib/openlpm/agent", "cpus": 4, "memory-mb": 2048,
                      "accel": accel, "kernel": "/var/lib/openlpm/boot/vmlinuz",
                      "initrd": "/var/lib/openlpm/boot/initrd.img",
                      "kernel-args": KERNEL_ARGS,
                      "mover-socket": "/var/lib/openlpm/mover/local.sock"}}


class SkewSite(Site):
    # What the old host is upgraded with: the wheelhouse, HEAD's wheel, the accelerator.
    upgrade: tuple[Path, Path, str] | None = None


def bring_up(site: SkewSite, tmp: Path) -> None:
    prefix = site.state.prefix
    image = build_image(IMAGE_DIR)
    accel = os.environ.get("OPENLPM_ACCEL") or asyncio.run(probe_accelerator(image))
    started = time.monotonic()
    wheelhouse, wheels = prepare_wheels(tmp)
    old_wheelhouse, old_wheels = prepare_wheels(tmp, OLD_RELEASE)
    # Every host installs from HEAD's wheelhouse: it must hold what 0.1.0 needs (HEAD
    # may need more, asyncssh for the SSH door).
    missing = ({w.name for w in old_wheelhouse.iterdir()}
               - {w.name for w in wheelhouse.iterdir()})
    assert not missing, f"HEAD's dependencies no longer hold 0.1.0's: {sorted(missing)}"
    site.version = next(wheels.glob("openlpm-*.whl")).name.split("-")[1]
    assert next(old_wheels.glob("openlpm-*.whl")).name.split("-")[1] == OLD_VERSION
    MEASURED.append(("version skew: HEAD's and 0.1.0's wheels",
                     f"{time.monotonic() - started:.1f} s"))

    network.create_switch(prefix)
    for name, address in {"hmc": CONSOLE_ADDRESS, **SYSTEMS}.items():
        host = Host(prefix, name, Node(f"{prefix}-{name}", name, address))
        network.attach(prefix, host.node)
        host.make()
        site.hosts[name] = host
    (RUN_ROOT / "labs").mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    install_all(list(site.hosts.values()), wheelhouse, wheels, {"old": old_wheels})
    site.upgrade = (wheelhouse, wheels, accel)
    MEASURED.append(("version skew: three hosts installed (one from 0.1.0's wheel)",
                     f"{time.monotonic() - started:.1f} s"))
    assert site.hosts["old"].run("/opt/openlpm/bin/openlpm", "--version").stdout.split()[-1] \
        == OLD_VERSION

    units = {"hmc": ["hmc"], "new": ["mover", "agent"]}
    for name, roles in new_configurations(accel).items():
        host = site.hosts[name]
        host.run("/opt/openlpm/bin/openlpm", "install-units", *units[name], "--no-reload")
        for role, settings in roles.items():
            host.write(f"/etc/openlpm/{role}.toml", config.render(settings))
    for role, text in old_units(accel).items():
        site.hosts["old"].write(f"/etc/systemd/system/openlpm-{role}.service", text,
                                mode=0o644)
    site.console.write("/etc/openlpm/admin-password", ADMIN_PASSWORD + "\n")
    for system in SYSTEMS:
        for part in ("vmlinuz", "initrd.img"):
            target = site.hosts[system].path(f"/var/lib/openlpm/boot/{part}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(IMAGE_DIR / part, target)
    for name, host in site.hosts.items():
        site.supervisors[name] = host.supervise(
            [f"openlpm-{role}.service" for role in units.get(name, ["mover", "agent"])])


def enrollment_code(host: Host) -> str:
    code: str = wait_for(f"{host.name}'s agent wrote its enrollment code", lambda: host.path(
        "/var/lib/openlpm/agent/tls/enrollment-code").exists() and host.read(
        "/var/lib/openlpm/agent/tls/enrollment-code").strip())
    return code


def journals(site: SkewSite, lines: int = 15) -> str:
    """The last lines of each host's journal: why a service did not come up."""
    shown = []
    for host in site.hosts.values():
        if host.journal_path.exists():
            tail = host.journal_path.read_text(errors="replace").splitlines()[-lines:]
            shown.append(f"--- {host.name}'s journal:\n" + "\n".join(tail))
    return "\n".join(shown)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SkewSite]:
    with module_site(SkewSite, "git") as made:
        try:
            bring_up(made, tmp_path_factory.mktemp("skew"))
            until_done(made, "openlpm", "login", "-u", "hscroot",
                       stdin=ADMIN_PASSWORD + "\n")
            until_done(made, "mksysconn", "--ip", SYSTEMS["new"], "--passwd",
                       enrollment_code(made.hosts["new"]))
        except AssertionError as failed:
            raise AssertionError(f"{failed}\n{journals(made)}") from None
        yield made


def move_live(site: SkewSite, source: str, target: str) -> None:
    """Validate and migrate the running partition, as an administrator does; it runs on
    the target, its one QEMU there and none left on the source."""
    validation = site.run("migrlpar", "-o", "v", "-m", source, "-t", target, "-p", PARTITION)
    assert "Error" not in validation.stdout + validation.stderr, validation
    site.run("migrlpar", "-o", "m", "-m", source, "-t", target, "-p", PARTITION)
    assert site.values("lssyscfg", "-r", "lpar", "-m", target, "-F", "name,state") == [
        f"{PARTITION},Running"]
    assert site.qemu_pids(source) == []
    assert len(site.qemu_pids(target, PARTITION)) == 1


def test_a_console_manages_a_system_one_release_older_and_moves_its_partition_off_it(
        site: SkewSite) -> None:
    old, new = site.hosts["old"], site.hosts["new"]
    code = enrollment_code(old)
    # The administrator adds it the way of this release first: refused, saying why
    # and what to do.
    tried = site.run("mksysconn", "--ip", SYSTEMS["old"], "--passwd", code, check=False)
    said = tried.stdout + tried.stderr
    assert tried.returncode != 0, said
    assert "HSCLF557" in said, said
    assert "does not say its name" in said and "POST /systems" in said, said
    assert "old" not in site.values("lssyscfg", "-r", "sys", "-F", "name")
    MEASURED.append(("version skew: mksysconn of the 0.1.0 system", said.strip()))

    # Then as 0.1.0 was added: by name, its agent's URL and its code.
    agent_url = f"https://{SYSTEMS['old']}:{AGENT_PORT}"
    started = time.monotonic()
    status, added = site.call("POST", "/systems", {
        "name": "old", "agent_url": agent_url, "enrollment_code": code})
    assert status == 200, (status, added)
    assert added["info"]["agent_version"] == OLD_VERSION, added
    wait_for("the console saw old with its mover", lambda: bool(
        (site.call("GET", "/systems/old")[1].get("info") or {}).get("movers")))

    assert sorted(site.values("lssyscfg", "-r", "sys", "-F", "name,agent_version")) == [
        f"new,{site.version}", f"old,{OLD_VERSION}"]
    assert sorted(site.values("lssysconn", "-r", "all", "-F", "name,state,version")) == [
        f"new,Connected,{site.version}", f"old,Connected,{OLD_VERSION}"]
    # The old system's mover service, of 0.1.0 too, got its certificate.
    movers = site.call("GET", "/systems/old")[1]["info"]["movers"]
    assert [(m["name"], m["version"]) for m in movers] == [("old-msp1", OLD_VERSION)]

    # A partition started on the old system, as it ran before its system's upgrade.
    site.run("mksyscfg", "-r", "lpar", "-m", "old", "-i", PROFILE)
    site.run("chsysstate", "-r", "lpar", "-m", "old", "-o", "on", "-n", PARTITION)
    before = site.wait_ticks("old", PARTITION, more_than=3)
    boot = before[-1][2]
    assert len(site.qemu_pids("old", PARTITION)) == 1

    # The rolling upgrade's move: off the old system, onto the new one.
    move_live(site, "old", "new")
    record = site.call("GET", f"/partitions/{PARTITION}/migration")[1]
    assert record["state"] == "Migration Complete", record

    ticks = site.wait_ticks("new", PARTITION, more_than=3, received_on="new")
    site.assert_one_boot("new", PARTITION, ticks, boot)
    assert max(n for _, n, _, where in ticks if where == "new") > before[-1][1]
    MEASURED.append(("version skew: 0.1.0 system added, partition moved to 0.2", (
        f"{time.monotonic() - started:.1f} s; downtime {record['downtime_ms']} ms")))
    # Back onto the old release is not a supported pair: validation says so and why.
    back = site.run("migrlpar", "-o", "v", "-m", "new", "-t", "old", "-p", PARTITION,
                    check=False)
    said = back.stdout + back.stderr
    assert back.returncode != 0 and "HSCLF403" in said, said
    assert f"runs openlpm {site.version}" in said and f"old runs {OLD_VERSION}" in said, said
    MEASURED.append(("version skew: migrlpar -o v back onto 0.1.0", said.strip()))
    assert len(site.qemu_pids("new", PARTITION)) == 1

    # Each system's agent is its own installation's, started by its unit: the old one
    # by 0.1.0's command line, the new one by its configuration file.
    for host, configured in ((old, False), (new, True)):
        pid = host.main_pids("openlpm-agent.service")[-1]
        argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
        assert host.owns(pid) and argv[0].startswith("/opt/openlpm/bin/python"), argv
        assert ("--config" in argv) == configured, argv


def test_the_old_system_upgraded_in_place_is_managed_as_it_was_and_takes_the_partition_back(
        site: SkewSite) -> None:
    """The rolling upgrade's next step: the emptied system is upgraded where it stands
    (its units stopped, HEAD's wheel installed over 0.1.0 in its /opt/openlpm, its units
    and configuration files written saying what its command lines said, its state
    directories kept), started again, and the console manages it as before, enrolled
    as it was, now at 0.2.0; the partition moves back onto it, one boot."""
    assert site.upgrade is not None
    wheelhouse, wheels, accel = site.upgrade
    old = site.hosts["old"]
    assert site.values("lssyscfg", "-r", "lpar", "-m", "new", "-F", "name,state") == [
        f"{PARTITION},Running"], "the first test left the partition on new"
    before = site.wait_ticks("new", PARTITION, more_than=3)
    boot = before[-1][2]

    started = time.monotonic()
    supervisor = site.supervisors.pop("old")
    supervisor.terminate()
    assert supervisor.wait(60) == 0
    upgrade = ("/opt/openlpm/bin/pip install -q --no-compile --no-index --find-links "
               f"{shlex.quote(str(wheelhouse))} --find-links {shlex.quote(str(wheels))} "
               f"openlpm=={site.version}")
    done = subprocess.run(old.command(["sh", "-c", upgrade],
                                      {"PIP_CONFIG_FILE": os.devnull}, hide=False),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    old.run("/opt/openlpm/bin/openlpm", "install-units", "mover", "agent", "--no-reload")
    for role, settings in system_configuration("old", accel).items():
        old.write(f"/etc/openlpm/{role}.toml", config.render(settings))
    assert old.run("/opt/openlpm/bin/openlpm", "--version").stdout.split()[-1] == \
        site.version
    site.supervisors["old"] = old.supervise(["openlpm-mover.service",
                                             "openlpm-agent.service"])

    wait_for("the console saw old at its new release, with its mover", lambda: (
        info := site.call("GET", "/systems/old")[1].get("info") or {}).get(
        "agent_version") == site.version and bool(info.get("movers")))
    assert sorted(site.values("lssyscfg", "-r", "sys", "-F", "name,agent_version")) == [
        f"new,{site.version}", f"old,{site.version}"]
    assert sorted(site.values("lssysconn", "-r", "all", "-F", "name,state,version")) == [
        f"new,Connected,{site.version}", f"old,Connected,{site.version}"]

    move_live(site, "new", "old")
    # The history holds the ticks old received before the partition first left it: wait
    # for two it receives now.
    carried = sum(1 for *_, where in before if where == "old")
    ticks = site.wait_ticks("old", PARTITION, more_than=carried + 1, received_on="old")
    site.assert_one_boot("old", PARTITION, ticks, boot)
    assert max(n for _, n, _, where in ticks if where == "old") > before[-1][1]
    argv = Path(f"/proc/{old.main_pids('openlpm-agent.service')[-1]}/cmdline").read_text()
    assert argv.split("\0")[1:-1] == ["-m", "openlpm", "agent", "serve", "--config",
                                       "/etc/openlpm/agent.toml"], argv
    MEASURED.append(("version skew: old system upgraded in place, partition moved back",
                     f"{time.monotonic() - started:.1f} s"))
