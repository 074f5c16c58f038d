"""Showing a migration as it happens: a live bar on a terminal, step lines otherwise
(``steps.py``, which says what each line holds)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from openlpm.cli.steps import Shown, StepLines, describe
from openlpm.cli.steps import summary as summary

Record = TypeVar("Record", bound=Shown)


async def show_progress(records: AsyncIterator[Record],
                        console: Console | None = None) -> Record:
    """Render every update of a migration; returns the final record."""
    console = console or Console(stderr=True)
    last: Record | None = None
    if not console.is_terminal:
        lines = StepLines(lambda line: console.print(line, highlight=False))
        async for record in records:
            lines.show(record)
            last = record
    else:
        with _Bar(console) as bar:
            async for record in records:
                bar.show(record)
                last = record
    assert last is not None
    return last


def draw_progress(records: Iterable[Record]) -> Record:
    """``show_progress`` on a terminal, for records that come synchronously
    (``migrlpar.py``'s)."""
    last: Record | None = None
    with _Bar(Console(stderr=True)) as bar:
        for record in records:
            bar.show(record)
            last = record
    assert last is not None
    return last


class _Bar:
    def __init__(self, console: Console) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(),
                   DownloadColumn(binary_units=True), TextColumn("{task.fields[rate]}"),
                   TimeElapsedColumn())
        self._progress = Progress(*columns, console=console)

    def __enter__(self) -> _Bar:
        self._progress.__enter__()
        self._task = self._progress.add_task("starting", total=None, rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def show(self, record: Shown) -> None:
        total = record.bytes_transmitted + record.bytes_remaining
        # QEMU's rate, not one derived from our samples: it is what the wire carries.
        self._progress.update(self._task, description=describe(record),
                              completed=record.bytes_transmitted, total=total or None,
                              rate=f"{record.rate_bps / 2**20:.0f} MiB/s")
