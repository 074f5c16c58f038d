"""The Debian 12 image boots under QEMU TCG by SeaBIOS and by UEFI (OVMF), and openlpm's
guest side works in it: asked through the guest agent, as the host's agent will ask."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from openlpm.lab.os_image import OsImage, build_os_image, built_os_image
from tests.integration.conftest import MEASURED

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="building the image needs root"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs QEMU"),
]

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
ADDRESS = "198.18.9.2/24"
BOOT_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def image() -> OsImage:
    cached = built_os_image("debian12")
    if cached is not None:
        MEASURED.append(("Debian 12 image build", "cached"))
        return cached
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (./dev installs it)")
    try:
        socket.create_connection(("deb.debian.org", 80), timeout=10).close()
    except OSError as exc:
        pytest.skip(f"the Debian mirror is unreachable ({exc})")
    started = time.monotonic()
    made = build_os_image("debian12", say=print)
    _measured("Debian 12 image build", time.monotonic() - started)
    return made


class GuestAgent:
    """qemu-guest-agent's JSON over the host's end of its channel: one connection per
    call, synchronized first (a stale answer of an earlier client is skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids = itertools.count(1)

    def call(self, command: str, arguments: dict[str, Any] | None = None,
             timeout: float = 10.0) -> Any:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.path))
            stream = sock.makefile("rwb")
            token = next(self.ids)
            # 0xff resets the agent's parser after whatever a client left half-sent.
            stream.write(b"\xff" + json.dumps({"execute": "guest-sync",
                                               "arguments": {"id": token}}).encode() + b"\n")
            stream.flush()
            while json.loads(stream.readline()).get("return") != token:
                pass
            request = {"execute": command, **({"arguments": arguments} if arguments else {})}
            stream.write(json.dumps(request).encode() + b"\n")
            stream.flush()
            answer = json.loads(stream.readline())
        assert "error" not in answer, f"{command}: {answer}"
        return answer["return"]

    def run(self, path: str, *args: str, env: list[str] | None = None,
            timeout: float = 120.0) -> tuple[int, str]:
        """Exit status and output (stdout then stderr) of a program run in the guest."""
        request = {"path": path, "arg": list(args), "capture-output": True,
                   **({"env": env} if env else {})}
        started = self.call("guest-exec", request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.call("guest-exec-status", {"pid": started["pid"]})
            if status["exited"]:
                out = b"".join(base64.b64decode(status.get(key, ""))
                               for key in ("out-data", "err-data"))
                return status.get("exitcode", -1), out.decode(errors="replace")
            time.sleep(0.2)
        raise TimeoutError(f"{path} {' '.join(args)} still runs after {timeout} s")

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("guest-ping", timeout=3.0)
                return
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)


@dataclass(frozen=True)
class Booted:
    agent: GuestAgent
    console: Path
    started: float

    def console_tail(self) -> str:
        return "\n".join(self.console.read_text(errors="replace").splitlines()[-40:])


@contextlib.contextmanager
def booted(image: OsImage, firmware: str) -> Iterator[Booted]:
    """A copy of the image (a qcow2 overlay) booted by ``firmware`` (bios or uefi)."""
    with tempfile.TemporaryDirectory(prefix="openlpm-os-") as tmp:
        work = Path(tmp)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        str(image.disk), str(work / "disk.qcow2")], check=True)
        command = _qemu(work)
        if firmware == "uefi":
            shutil.copy(OVMF_VARS, work / "vars.fd")
            command += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                        "-drive", f"if=pflash,format=raw,unit=1,file={work / 'vars.fd'}"]
        with (work / "qemu.log").open("wb") as log:
            qemu = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        try:
            yield Booted(GuestAgent(work / "qga.sock"), work / "console.log",
                         time.monotonic())
        finally:
            qemu.kill()
            qemu.wait()


def _qemu(work: Path) -> list[str]:
    # No host network: the adapter is on a hub of its own; the address is what counts.
    return ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "1024",
            "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", f"file:{work / 'console.log'}",
            "-drive", f"if=none,id=disk,file={work / 'disk.qcow2'},format=qcow2",
            "-device", "virtio-blk-pci,drive=disk,bootindex=0",
            "-device", "virtio-serial",
            "-chardev", f"socket,id=qga,path={work / 'qga.sock'},server=on,wait=off",
            "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
            "-fw_cfg", f"name=opt/org.openlpm/args,string=openlpm.ip={ADDRESS}",
            "-netdev", "hubport,id=net0,hubid=0", "-device", "virtio-net-pci,netdev=net0"]


def test_second_build_is_cached(image: OsImage) -> None:
    built = image.disk.stat().st_mtime_ns
    started = time.monotonic()
    assert build_os_image("debian12") == image
    assert time.monotonic() - started < 10
    assert image.disk.stat().st_mtime_ns == built
    for secret in (image.ssh_key, image.db_password):
        assert secret.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_boots_and_answers_as_openlpm_guest(image: OsImage, firmware: str) -> None:
    if firmware == "uefi" and not (OVMF_CODE.exists() and OVMF_VARS.exists()):
        pytest.skip("OVMF is not installed (./dev installs ovmf)")
    with booted(image, firmware) as guest:
        agent = guest.agent
        try:
            agent.wait(BOOT_TIMEOUT_S)
        except OSError as exc:
            raise AssertionError(f"no guest agent: {exc}\n{guest.console_tail()}") from exc
        _measured(f"Debian 12 under TCG by {firmware}: guest agent answers",
                  time.monotonic() - guest.started)
        assert agent.call("guest-ping") == {}
        info = agent.call("guest-get-osinfo")
        assert (info["id"], info["version-id"]) == ("debian", "12")

        status, state = agent.run("/bin/systemctl", "is-system-running", "--wait",
                                  timeout=BOOT_TIMEOUT_S)
        _measured(f"Debian 12 under TCG by {firmware}: systemd running",
                  time.monotonic() - guest.started)
        failed = agent.run("/bin/systemctl", "--failed", "--no-legend")[1]
        assert state.strip() == "running", f"{state} {failed}\n{guest.console_tail()}"

        _, addresses = agent.run("/bin/ip", "-o", "-4", "addr", "show", "scope", "global")
        assert f"inet {ADDRESS}" in addresses
        _check_mobility_hook(agent)
        _check_database(agent, image)
        _, authorized = agent.run("/bin/cat", "/root/.ssh/authorized_keys")
        assert authorized == image.ssh_key.with_suffix(".pub").read_text()


def _check_mobility_hook(agent: GuestAgent) -> None:
    assert agent.run("/usr/lib/openlpm/mobility", "check") == (0, "ok\n")
    agent.run("/bin/sh", "-c", "mkdir -p /run/openlpm && echo batch until 6 > "
              "/run/openlpm/veto")
    assert agent.run("/usr/lib/openlpm/mobility", "check") == (1, "veto batch until 6\n")
    agent.run("/bin/rm", "/run/openlpm/veto")


def _check_database(agent: GuestAgent, image: OsImage) -> None:
    password = image.db_password.read_text().strip()
    status, out = agent.run("/usr/bin/psql", "host=127.0.0.1 user=openlpm dbname=openlpm",
                            "-Atc", "select current_user, current_database()",
                            env=[f"PGPASSWORD={password}"])
    assert (status, out) == (0, "openlpm|openlpm\n")


def _measured(what: str, seconds: float) -> None:
    print(f"{what}: {seconds:.1f} s")
    MEASURED.append((what, f"{seconds:.1f} s"))
