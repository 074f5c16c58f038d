"""What every benchmark does around its measurements: check it can run, always take its
lab down (also after a failure or Ctrl-C), write its JSON, then show its table."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from openlpm.lab import site

say = Console(stderr=True, highlight=False).print

T = TypeVar("T")


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
