"""What every benchmark does around its measurements: check it can run, always take its
lab down (also after a failure or Ctrl-C), write its JSON, then show its table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from openlpm.lab import site

say = Console(stderr=True, highlight=False).print

T = TypeVar("T")
BIN = Path(sys.executable).parent
CLI_TIMEOUT_S = 300.0


class BenchError(Exception):
    """The bench cannot go on; the message says what failed."""


def run_bench(prefix: str, measure: Callable[[], Coroutine[Any, Any, T]],
              summary_of: Callable[[T], dict[str, Any]], show: Callable[[T], None],
              out: Path) -> int:
    """Run ``measure`` with the lab ``prefix`` it brings up; 0 when it succeeded."""
    if os.geteuid() != 0 or shutil.which("qemu-system-x86_64") is None:
        say("the bench needs root (network namespaces) and qemu-system-x86_64")
        return 1
    try:
        result = asyncio.run(measure())
    except BenchError as exc:
        say(f"bench failed: {exc}")
        return 1
    finally:
        # A fresh event loop, so the lab goes down even after Ctrl-C.
        asyncio.run(site.down(prefix, quiet=True))
    summary = summary_of(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    show(result)
    say(f"results written to {out} (the bench took {summary['bench_s']:.0f} s)")
    return 0


async def run_cli(lab: site.LabState, *argv: str, check: bool = True) -> str:
    """Run an openlpm or HMC-compatible command against the lab, as a user would;
    returns its output.

    Raises BenchError when it exits non-zero (with ``check``).
    """
    env = os.environ | site.client_env(lab)
    proc = await asyncio.create_subprocess_exec(
        str(BIN / argv[0]), *argv[1:], env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async with asyncio.timeout(CLI_TIMEOUT_S):
            out, _ = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    if check and proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {proc.returncode}:\n{text}")
    return text


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of ``pid`` so far, as
    ``NAME[TID]``; empty once the process is gone."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                # The name is in parentheses and may hold spaces: split after it.
                stat = (task / "stat").read_text()
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                used[f"{name}[{task.name}]"] = (int(fields[11]) + int(fields[12])) / ticks
    return used


class ThreadClock:
    """Samples the per-thread CPU time of some processes while a measurement runs, so
    that what each thread used is known even for a process that ends before the
    measurement does (a migrated partition's source QEMU). ``find`` names the processes
    to follow (role → pid) at each sample: a process that starts during the
    measurement (the target QEMU) counts from its start."""

    INTERVAL_S = 0.1

    def __init__(self, find: Callable[[], dict[str, int]]) -> None:
        self.find = find
        self.at_start: dict[str, dict[str, float]] = {}
        self.last: dict[str, dict[str, float]] = {}
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        # Merged, not replaced: a thread that ended (QEMU's migration thread, at the
        # end of the stream) keeps the time it was last seen with.
        for role, pid in self.find().items():
            self.last.setdefault(role, {}).update(thread_cpu_s(pid))

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.INTERVAL_S)

    async def __aenter__(self) -> ThreadClock:
        self.sample()
        self.at_start = {role: dict(used) for role, used in self.last.items()}
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.sample()

    def used(self) -> dict[str, dict[str, float]]:
        """CPU seconds of each thread of each process over the measurement."""
        return {role: {name: round(t - self.at_start.get(role, {}).get(name, 0.0), 3)
                       for name, t in sorted(last.items(), key=lambda kv: -kv[1])}
                for role, last in self.last.items()}


def qemu_pids(name: str, marks: dict[str, str]) -> dict[str, int]:
    """The pids of the QEMUs of partition ``name`` whose command line holds each mark
    (e.g. the state directory of a system), by role."""
    found: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if f"guest={name}," not in cmdline:
                continue
            for role, mark in marks.items():
                if mark in cmdline:
                    found[role] = int(proc.name)
    return found
