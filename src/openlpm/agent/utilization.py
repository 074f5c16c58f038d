"""What the partitions of a managed system use: processor time over a window, memory.

A sampler reads each partition's QEMU process from /proc every few seconds and keeps
the last ten minutes, so the console can ask for any window up to that without waiting.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from openlpm.model import PartitionUsage

SAMPLE_S = 2.0
KEEP_S = 600.0
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User and system time the process has used, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime field 14 and stime field 15.
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def resident_mb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


class UtilizationSampler:
    def __init__(self, pids: Callable[[], dict[str, int]]) -> None:
        self._pids = pids
        # (monotonic time, {partition: (pid, cpu seconds)}), oldest first.
        self._samples: deque[tuple[float, dict[str, tuple[int, float]]]] = deque()

    def sample(self) -> None:
        now = time.monotonic()
        taken = {}
        for name, pid in self._pids().items():
            used = cpu_seconds(pid)
            if used is not None:
                taken[name] = (pid, used)
        self._samples.append((now, taken))
        while self._samples and self._samples[0][0] < now - KEEP_S:
            self._samples.popleft()

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_S)

    def usage(self, window_s: float, memory_mb: dict[str, int]) -> list[PartitionUsage]:
        """Processors used (in cores) by each partition over the last ``window_s`` seconds
        (or as much of it as has been sampled), with its memory."""
        self.sample()
        now, latest = self._samples[-1]
        usages = []
        for name, (pid, used) in sorted(latest.items()):
            first = next(((t, s[name][1]) for t, s in self._samples
                          if t >= now - window_s and name in s and s[name][0] == pid), None)
            cores = 0.0
            if first is not None and now - first[0] > 0:
                cores = (used - first[1]) / (now - first[0])
            usages.append(PartitionUsage(name=name, cpu_cores=round(cores, 4),
                                         memory_mb=memory_mb.get(name, 0),
                                         resident_mb=resident_mb(pid)))
        return usages
