"""A partition's console output, stamped with the time its system received each line.

QEMU also writes the raw byte stream to ``console.raw`` so nothing is lost while the
agent is away; the stamped log is what the console API serves, because a stamp is what
proves how long a partition was silent during a switch-over. When a partition arrives
by migration its history from the source is merged in, so the console follows it; a
line the partition was writing when it paused is begun on the source and ended on the
target, and is shown as one.

A guest writes what it likes on its console, so what the host keeps of it is bounded: a
line longer than LINE_MAX bytes is kept in pieces, the stamped log holds at most twice
HISTORY_LINES lines, and QEMU's raw log starts again empty past RAW_MAX_BYTES.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from openlpm.model import ConsoleLine
from openlpm.private import append_private, write_private

HISTORY_LINES = 2000
LINE_MAX = 4096
RAW_MAX_BYTES = 8 << 20


class ConsoleLog:
    def __init__(self, path: Path, system: str) -> None:
        self.path = path
        self.system = system
        self._lines: deque[ConsoleLine] = deque(maxlen=HISTORY_LINES)
        self._reader: asyncio.Task[None] | None = None
        self._appended = 0
        if path.exists():
            self._lines.extend(_load(path))

    def tail(self, count: int) -> list[ConsoleLine]:
        lines = _completed(list(self._lines))
        return lines[-count:] if count > 0 else []

    def merge(self, history: Iterable[ConsoleLine]) -> None:
        """Insert lines received elsewhere (the source of a migration) in time order."""
        merged = sorted({(line.t, line.text): line for line in
                         [*history, *self._lines]}.values(), key=lambda line: line.t)
        self._lines.clear()
        self._lines.extend(merged)
        self._rewrite()

    def catch_up(self, raw: Path, written_by: float | None = None) -> int:
        """Take the lines QEMU logged while no agent read the console (it was down).

        They follow the last line already kept; being late, they are stamped now, or
        at ``written_by`` when it is known they were written by then (never before the
        line they follow, so the log stays in the order they were written). A last line
        without its end yet is marked partial: whatever is received next completes it.
        Returns how many were taken.
        """
        if not self._lines or not raw.exists():
            return 0
        content = raw.read_text(encoding="utf-8", errors="replace")
        logged = [line.rstrip("\r") for line in content.splitlines()]
        last = self._lines[-1].text
        at = next((i for i in range(len(logged) - 1, -1, -1) if logged[i] == last), None)
        if at is None:
            return 0
        stamp = time.time() if written_by is None else \
            max(min(written_by, time.time()), self._lines[-1].t)
        # A microsecond apart: lines of one stamp would lose their order in a merge.
        missed = [ConsoleLine(t=stamp + (i + 1) * 1e-6, text=text, system=self.system)
                  for i, text in enumerate(logged[at + 1:])]
        if missed and not content.endswith("\n"):
            missed[-1] = missed[-1].model_copy(update={"partial": True})
        self._lines.extend(missed)
        with append_private(self.path) as out:
            out.writelines(line.model_dump_json() + "\n" for line in missed)
        return len(missed)

    async def seal(self, raw: Path, paused_at: float | None) -> None:
        """The partition has left this system: stop following its console, then take
        what QEMU logged that was not read yet (a line still in the socket when its
        QEMU paused at switch-over would otherwise be lost with it). Such a line was
        written before QEMU paused (``paused_at``), and so was a line the agent read
        after the pause: stamped later, either would follow the lines the target
        received once the partition resumed there."""
        await self.close()
        if paused_at is not None:
            self._written_by(paused_at)
        self.catch_up(raw, written_by=paused_at)

    def follow(self, socket: Path, raw: Path) -> None:
        """Start reading the partition's serial console socket in the background; QEMU's
        raw log of it is ``raw``."""
        self._reader = asyncio.create_task(self._read(socket, raw))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    async def _read(self, socket: Path, raw: Path) -> None:
        reader, writer = await asyncio.open_unix_connection(str(socket), limit=LINE_MAX)
        try:
            while line := await _next_line(reader):
                self._keep(line.decode(errors="replace").rstrip("\r\n"))
                _bound(raw)
        finally:
            writer.close()

    def _keep(self, text: str) -> None:
        stamped = ConsoleLine(t=time.time(), text=text, system=self.system)
        self._lines.append(stamped)
        self._appended += 1
        if self._appended >= HISTORY_LINES:
            self._rewrite()
            return
        # Reopened per line because merge() replaces the file underneath.
        with append_private(self.path) as out:
            out.write(stamped.model_dump_json() + "\n")

    def _written_by(self, paused_at: float) -> None:
        """Restamp the lines read after the partition paused: they were written before,
        and stamped later they would follow the lines the target receives."""
        restamped: list[ConsoleLine] = []
        for line in self._lines:
            t = min(line.t, paused_at)
            if restamped and t <= restamped[-1].t:
                t = restamped[-1].t + 1e-6
            restamped.append(line if t == line.t else line.model_copy(update={"t": t}))
        if restamped != list(self._lines):
            self._lines.clear()
            self._lines.extend(restamped)
            self._rewrite()

    def _rewrite(self) -> None:
        write_private(self.path, "".join(line.model_dump_json() + "\n"
                                         for line in self._lines).encode())
        self._appended = 0


async def _next_line(reader: asyncio.StreamReader) -> bytes:
    """The next line, or the next LINE_MAX bytes of a longer one; b"" at the end."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except asyncio.LimitOverrunError as exc:
        return await reader.readexactly(min(exc.consumed, LINE_MAX))


def _bound(raw: Path) -> None:
    """QEMU appends to its raw log (logappend=on), so cutting it to nothing makes it
    start again: what it held was read already, and it is only read for lines the agent
    missed while it was away."""
    with contextlib.suppress(OSError):
        if raw.stat().st_size > RAW_MAX_BYTES:
            os.truncate(raw, 0)


def _completed(lines: list[ConsoleLine]) -> list[ConsoleLine]:
    """Each line begun on one system and ended on the next (the partition paused in its
    middle) as one line, received where it was ended. The log keeps both parts, so that
    merging the same history twice cannot join them twice."""
    shown: list[ConsoleLine] = []
    for line in lines:
        if shown and shown[-1].partial:
            begun = shown.pop()
            line = line.model_copy(update={"text": begun.text + line.text})
        shown.append(line)
    return shown


def _load(path: Path) -> list[ConsoleLine]:
    lines = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            lines.append(ConsoleLine.model_validate(json.loads(raw)))
    return lines[-HISTORY_LINES:]
