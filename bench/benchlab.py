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
