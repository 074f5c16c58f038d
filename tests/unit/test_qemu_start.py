"""A QEMU whose monitor does not answer: not left running when it was just started (it
would hold the partition's disks), and no obstacle to an agent that restarts beside it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openlpm.agent.partitions import Capacity, PartitionManager
from openlpm.agent.qemu import QUIT_TIMEOUT_S, BootImage, QemuPartition, QemuSettings
from openlpm.errors import QEMU_NOT_ANSWERING, HypervisorError
from openlpm.model import PartitionProfile, PartitionState
from openlpm.processes import runs_with

PROFILE = PartitionProfile(name="web1", min_mem=128, desired_mem=128, max_mem=128,
                           min_procs=1, desired_procs=1, max_procs=1)
# Stands in for qemu-system-x86_64 -daemonize: leaves a process running, named in the
# pidfile and carrying the run directory in its command line, and no monitor socket.
HUNG_QEMU = """#!{python}
import os, subprocess, sys
args = sys.argv[1:]
pidfile = args[args.index("-pidfile") + 1]
hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)",
                         os.path.dirname(pidfile)], start_new_session=True,
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
open(pidfile, "w").write(str(hung.pid))
"""


async def test_a_qemu_whose_monitor_does_not_answer_is_ended(tmp_path: Path) -> None:
    binary = tmp_path / "qemu"
    binary.write_text(HUNG_QEMU.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    boot = BootImage(tmp_path / "vmlinuz", tmp_path / "initrd", "")
    qemu = QemuPartition("web1", tmp_path / "run" / "web1",
                         QemuSettings(str(binary), "tcg", boot))

    with pytest.raises(HypervisorError):
        await qemu.start(PROFILE)

    pid = int((tmp_path / "run" / "web1" / "qemu.pid").read_text())
    left_running = runs_with(pid, str(qemu.run_dir).encode())
    if left_running:
        os.kill(pid, signal.SIGKILL)
    assert not left_running


async def test_an_agent_restarted_beside_a_hung_qemu_starts_and_says_so(
        tmp_path: Path) -> None:
    """A QEMU left running whose monitor does not answer (hung, stopped) used to keep
    the restarted agent from starting at all."""
    settings = QemuSettings("qemu-system-x86_64", "tcg",
                            BootImage(tmp_path / "vmlinuz", tmp_path / "initrd", ""))
    before = PartitionManager("sys1", tmp_path / "sys1", Capacity(2, 1024), settings)
    await before.create(PROFILE, incoming_migration=None, running=False)
    run_dir = before.run_root / "web1"
    run_dir.mkdir(parents=True)
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             str(run_dir)], start_new_session=True)
    (run_dir / "qemu.pid").write_text(str(hung.pid))
    # It ran long before the agent restarted: its command line is there to be read
    # (just after the fork, /proc may not show it yet).
    while not runs_with(hung.pid, str(run_dir).encode()):
        await asyncio.sleep(0.01)
    try:
        after = PartitionManager("sys1", tmp_path / "sys1", Capacity(2, 1024), settings)
        await after.adopt_running()

        assert after.partition("web1").state == PartitionState.ERROR
    finally:
        hung.kill()
        hung.wait()


async def _mute_monitor(path: Path) -> asyncio.Server:
    """A QMP monitor that greets and takes the capabilities, then answers nothing more,
    as a QEMU stopped with SIGSTOP after its agent attached."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},'
                     b' "package": ""}, "capabilities": []}}\r\n')
        pending, decoder = "", json.JSONDecoder()
        answered = 0
        while answered < 2:  # qmp_capabilities, migrate-set-capabilities; then silence
            pending += (await reader.read(4096)).decode()
            with contextlib.suppress(ValueError):  # not a whole request yet
                request, end = decoder.raw_decode(pending)
                pending = pending[end:]
                answer = {"return": {}} | ({"id": request["id"]} if "id" in request else {})
                writer.write(json.dumps(answer).encode() + b"\r\n")
                answered += 1
        await reader.read()

    return await asyncio.start_unix_server(serve, str(path))


async def test_a_stopped_qemu_fails_its_commands_in_time_and_is_ended(tmp_path: Path) -> None:
    """The undo of a migration to a target whose QEMU was stopped (SIGSTOP) waited on
    its 'quit' until the console gave up after 60 s."""
    run_dir = tmp_path / "run" / "web1"
    run_dir.mkdir(parents=True)
    qemu = QemuPartition("web1", run_dir, QemuSettings("qemu-system-x86_64", "tcg", None))
    stopped = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                str(run_dir)], start_new_session=True)
    server = await _mute_monitor(qemu.qmp_socket)
    try:
        while not runs_with(stopped.pid, str(run_dir).encode()):
            await asyncio.sleep(0.01)
        os.kill(stopped.pid, signal.SIGSTOP)
        qemu.pidfile.write_text(str(stopped.pid))
        await qemu.connect()

        with pytest.raises(HypervisorError) as caught:
            await qemu.execute("query-status", timeout=0.2)
        assert caught.value.code == QEMU_NOT_ANSWERING
        started = time.monotonic()
        await qemu.stop()

        assert time.monotonic() - started < QUIT_TIMEOUT_S + 2
        assert stopped.wait(timeout=5) == -signal.SIGKILL
    finally:
        server.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(stopped.pid, signal.SIGCONT)
        stopped.kill()
        stopped.wait()
