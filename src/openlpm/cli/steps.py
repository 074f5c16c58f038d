"""A migration's progress as lines: what each record says, which lines a display that is
not a terminal prints, and the summary. The standard library only, for migrlpar's quick
path (``migrlpar.py``); ``progress.py`` draws the terminal's bar with rich.

The lines go out as rich's ``Console(stderr=True).print(line, highlight=False)`` writes
them (the command printed them so before, and ``progress.py`` still does): straight to
standard error when rich would write the line unchanged (plain ASCII, no markup or emoji
syntax, within the width rich wraps at), else through rich itself.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from openlpm.states import MigrationKind, MigrationState, MigrationStep


class Shown(Protocol):
    """What the lines read of a migration record: ``model.MigrationRecord`` or
    ``console_views.MigrationRecordView``."""

    @property
    def id(self) -> str: ...
    @property
    def partition(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def kind(self) -> MigrationKind: ...
    @property
    def state(self) -> MigrationState: ...
    @property
    def step(self) -> MigrationStep | None: ...
    @property
    def step_phase(self) -> str: ...
    @property
    def started(self) -> float: ...
    @property
    def ended(self) -> float | None: ...
    @property
    def bytes_transmitted(self) -> int: ...
    @property
    def bytes_remaining(self) -> int: ...
    @property
    def rate_bps(self) -> float: ...
    @property
    def downtime_ms(self) -> int | None: ...
    @property
    def encrypted(self) -> bool | None: ...
    @property
    def source_msp_name(self) -> str | None: ...
    @property
    def dest_msp_name(self) -> str | None: ...


def describe(record: Shown) -> str:
    if record.step is None:
        return record.state.value
    phase = f" ({record.step_phase})" if record.step_phase else ""
    return f"step {int(record.step)}/7 {record.step.label}{phase}"


class StepLines:
    """One line per step (steps done between two updates included) and per second of
    step 4, for a display that is not a terminal; ``emit`` prints each."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._shown, self._shown_at, self._step_shown = "", 0.0, 0

    def show(self, record: Shown) -> None:
        step = int(record.step or 0)
        for skipped in range(self._step_shown + 1, step):
            self._emit(passed_step(MigrationStep(skipped), record))
        self._step_shown = max(self._step_shown, step)
        line = describe(record)
        if line != self._shown or (record.step == MigrationStep.MIGRATE
                                   and time.monotonic() - self._shown_at >= 1.0):
            self._emit(line + step_bytes(record))
            self._shown, self._shown_at = line, time.monotonic()


def passed_step(step: MigrationStep, record: Shown) -> str:
    moves_memory = step in (MigrationStep.MOVER_SERVICES, MigrationStep.MIGRATE)
    if moves_memory and record.kind == MigrationKind.INACTIVE:
        return f"step {int(step)}/7 {step.label} (not needed: the partition is not running)"
    return f"step {int(step)}/7 {step.label}"


def step_bytes(record: Shown) -> str:
    if record.step != MigrationStep.MIGRATE:
        return ""
    return (f"  {record.bytes_transmitted / 2**20:.0f} MiB sent, "
            f"{record.bytes_remaining / 2**20:.0f} MiB remaining, "
            f"{record.rate_bps / 2**20:.0f} MiB/s")


def summary(record: Shown) -> str:
    took = (record.ended or record.started) - record.started
    downtime = f", downtime {record.downtime_ms} ms" if record.downtime_ms is not None else ""
    sent = f", {record.bytes_transmitted / 2**20:.1f} MiB sent" \
        if record.kind.value == "active" else ""
    if record.encrypted is not None:
        sent += f" {'encrypted' if record.encrypted else 'in the clear'} between " \
                f"{record.source_msp_name} and {record.dest_msp_name}"
    return (f"Migration {record.id} of {record.partition} ({record.kind.value}) from "
            f"{record.source} to {record.target}: {record.state.value} in {took:.1f} s"
            f"{downtime}{sent}.")


# -- as rich would print them ---------------------------------------------------------------


def draws_on_terminal() -> bool:
    """``rich.console.Console(stderr=True).is_terminal``, by rich's rules (15.0): its
    environment variables first, then whether standard error is a terminal."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


def rich_width() -> int | None:
    """The width rich wraps at when not on a terminal, when it is the plain case (no
    COLUMNS or LINES in the environment): the first standard stream's terminal size,
    else 80. None otherwise."""
    if "COLUMNS" in os.environ or "LINES" in os.environ:
        return None
    for fd in (0, 1, 2):
        try:
            return os.get_terminal_size(fd).columns or 80
        except (AttributeError, ValueError, OSError):  # not a terminal
            continue
    return 80


_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - {"[", "]", "\\"}
# What rich's emoji replacement looks at (rich/_emoji_replace.py): two colons with no
# space between; a phase such as "a: pre-copy" has one.
_EMOJI_CODE = re.compile(r":\S*:")


class PlainLines:
    """Lines to standard error as rich's ``Console(stderr=True).print(line,
    highlight=False)`` writes them when it is not on a terminal: straight when rich
    would write the line unchanged, else by rich (imported then)."""

    def __init__(self) -> None:
        self._width = rich_width()
        self._rich: Callable[[str], None] | None = None

    def __call__(self, line: str) -> None:
        if self._width is not None and self.unchanged_by_rich(line, self._width):
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
            return
        if self._rich is None:
            from rich.console import Console

            console = Console(stderr=True)
            self._rich = lambda text: console.print(text, highlight=False)
        self._rich(line)

    @staticmethod
    def unchanged_by_rich(line: str, width: int) -> bool:
        """Printable ASCII without markup (``[``), emoji codes (``:smile:``) or escapes,
        not starting or ending with a space, and no wider than ``width``: rich writes
        such a line as it is (a unit test holds rich to it)."""
        return (0 < len(line) <= width and line[0] != " " and line[-1] != " "
                and all(c in _PLAIN for c in line) and not _EMOJI_CODE.search(line))


# -- -v: the journal and the passes ----------------------------------------------------------


class Entry(Protocol):
    @property
    def at(self) -> float: ...
    @property
    def step(self) -> MigrationStep | None: ...
    @property
    def phase(self) -> str: ...
    @property
    def detail(self) -> str: ...


class Pass(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def dirty_rate_pps(self) -> float: ...
    @property
    def remaining(self) -> int: ...
    @property
    def downtime_limit_ms(self) -> int: ...
    @property
    def throttle_pct(self) -> int: ...


def journal_lines(entries: Iterable[Entry]) -> list[str]:
    lines = []
    for entry in entries:
        step = f"step {int(entry.step)}" if entry.step else "job"
        detail = f": {entry.detail}" if entry.detail else ""
        lines.append(f"  {time.strftime('%H:%M:%S', time.localtime(entry.at))}"
                     f".{int(entry.at % 1 * 1000):03d} {step} {entry.phase}{detail}")
    return lines


def pass_lines(rounds: Iterable[Pass]) -> list[str]:
    return [f"  pass {r.number}: {r.dirty_rate_pps:.0f} pages/s dirtied, "
            f"{r.remaining / 2**20:.0f} MiB remaining, limit {r.downtime_limit_ms} ms"
            + (f", throttle {r.throttle_pct}%" if r.throttle_pct else "") for r in rounds]
