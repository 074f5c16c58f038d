"""The CPU models this system's QEMU can offer a partition: its processor compatibility modes.

QEMU answers ``query-cpu-definitions`` with, for each model, the features the host and
accelerator lack. Asking costs a QEMU start (about 0.2 s), so the answer is cached, keyed by
the binary's identity and modification time and the accelerator: an upgraded QEMU is asked
again, an unchanged one never is.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from openlpm.errors import HypervisorError
from openlpm.model import CpuModel

_QUERY = (b'{"execute": "qmp_capabilities"}\n'
          b'{"execute": "query-cpu-definitions"}\n'
          b'{"execute": "quit"}\n')

_cache: dict[tuple[str, int, int, str], tuple[CpuModel, ...]] = {}


async def cpu_models(binary: str, accel: str) -> tuple[CpuModel, ...]:
    """Every CPU model of ``binary`` with ``accel``, with the features it cannot provide.

    Raises HypervisorError when QEMU cannot be run or does not answer.
    """
    path = Path(shutil.which(binary) or binary)
    try:
        stat = path.stat()
    except OSError as exc:
        raise HypervisorError(f"QEMU binary {binary} cannot be read: {exc}") from exc
    key = (str(path.resolve()), stat.st_ino, stat.st_mtime_ns, accel)
    if key not in _cache:
        _cache[key] = await _query(str(path), accel)
    return _cache[key]


async def _query(binary: str, accel: str) -> tuple[CpuModel, ...]:
    proc = await asyncio.create_subprocess_exec(
        binary, "-machine", "none", "-accel", accel, "-nodefaults", "-display", "none",
        "-qmp", "stdio", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(30):
            out, err = await proc.communicate(_QUERY)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise HypervisorError(f"{binary} did not list its CPU models within 30 s.") from None
    for line in out.splitlines():
        answer = json.loads(line)
        if isinstance(answer.get("return"), list):
            return tuple(sorted(
                (CpuModel(name=m["name"],
                          unavailable_features=tuple(m.get("unavailable-features", ())))
                 for m in answer["return"]), key=lambda m: m.name))
    raise HypervisorError(f"{binary} did not list its CPU models: "
                          f"{err.decode(errors='replace').strip()[-300:]}")
