"""A partition's stamped console log, and the lines it must not lose when it leaves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openlpm.agent.console import HISTORY_LINES, LINE_MAX, ConsoleLog
from openlpm.model import ConsoleLine


def kept_and_logged(tmp_path: Path, kept: list[tuple[float, str]],
                    logged: str) -> tuple[ConsoleLog, Path]:
    """sys1's console log holding ``kept``, and its QEMU's raw log holding ``logged``."""
    log = ConsoleLog(tmp_path / "p.console", "sys1")
    log.merge([ConsoleLine(t=t, text=text, system="sys1") for t, text in kept])
    raw = tmp_path / "console.raw"
    raw.write_text(logged)
    return log, raw


def test_console_lines_written_while_the_agent_was_down_are_taken_back(
        tmp_path: Path) -> None:
    log, raw = kept_and_logged(
        tmp_path, [(1.0, "tick 1 boot=b")],
        "tick 0 boot=b\r\ntick 1 boot=b\r\ntick 2 boot=b\r\ntick 3 boot=b\r\n")

    assert log.catch_up(raw) == 2
    assert [line.text for line in log.tail(10)] == [
        "tick 1 boot=b", "tick 2 boot=b", "tick 3 boot=b"]
    assert [line.text for line in ConsoleLog(tmp_path / "p.console", "sys1").tail(10)] == [
        "tick 1 boot=b", "tick 2 boot=b", "tick 3 boot=b"]


def test_a_partition_that_left_keeps_the_lines_qemu_logged_but_no_one_read(
        tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        served = asyncio.Event()

        async def qemu_console(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"tick 1\r\n")
            await writer.drain()
            served.set()
            await asyncio.sleep(3600)

        socket = tmp_path / "console.sock"
        server = await asyncio.start_unix_server(qemu_console, str(socket))
        log = ConsoleLog(tmp_path / "web1.console", "sys1")
        log.follow(socket, tmp_path / "console.raw")
        await served.wait()
        while not log.tail(1):
            await asyncio.sleep(0.01)
        # QEMU's own log has a line the agent had not read when the partition paused.
        raw = tmp_path / "console.raw"
        raw.write_text("boot\ntick 1\ntick 2\n")
        await log.seal(raw, paused_at=None)
        server.close()
        return [line.text for line in log.tail(10)]

    assert asyncio.run(scenario()) == ["tick 1", "tick 2"]


def switch_over(tmp_path: Path, kept: list[tuple[float, str]], logged: str, paused_at: float,
                received: tuple[float, str]) -> tuple[ConsoleLog, list[ConsoleLine]]:
    """The source's agent kept ``kept`` of what its QEMU ``logged`` before pausing at
    ``paused_at``; then the target received ``received``, and step 7 merged the source's
    history in. Returns the target's log and that history."""
    async def scenario() -> tuple[ConsoleLog, list[ConsoleLine]]:
        source, raw = kept_and_logged(tmp_path, kept, logged)
        await source.seal(raw, paused_at=paused_at)
        target = ConsoleLog(tmp_path / "target.console", "sys2")
        target.merge([ConsoleLine(t=received[0], text=received[1], system="sys2")])
        target.merge(source.tail(10))
        return target, source.tail(10)

    return asyncio.run(scenario())


def test_a_line_taken_when_the_partition_left_keeps_its_place_before_the_target_s(
        tmp_path: Path) -> None:
    # QEMU paused at 100.5; the agent is asked for the last lines well after that.
    target, _ = switch_over(tmp_path, [(100.0, "tick 16")], "tick 16\ntick 17\ntick 18\n",
                            paused_at=100.5, received=(101.2, "tick 19"))
    assert [line.text for line in target.tail(10)] == [
        "tick 16", "tick 17", "tick 18", "tick 19"]


def test_a_line_read_after_the_pause_is_never_followed_by_earlier_stamps(
        tmp_path: Path) -> None:
    log, raw = kept_and_logged(tmp_path, [(200.0, "tick 1")], "tick 1\ntick 2\n")
    log.catch_up(raw, written_by=199.0)
    stamps = [line.t for line in log.tail(10)]
    assert stamps == sorted(stamps) and stamps[0] < stamps[1]


def test_a_line_read_after_the_pause_keeps_its_place_before_the_target_s(
        tmp_path: Path) -> None:
    # QEMU paused at 100.5; its agent, busy, read tick 17 only at 103.
    target, _ = switch_over(tmp_path, [(100.0, "tick 16"), (103.0, "tick 17")],
                            "tick 16\ntick 17\n", paused_at=100.5,
                            received=(101.2, "tick 18"))
    assert [line.text for line in target.tail(10)] == ["tick 16", "tick 17", "tick 18"]


def test_a_line_the_partition_paused_in_is_shown_whole_where_it_was_ended(
        tmp_path: Path) -> None:
    # The guest had sent one byte of its next line when QEMU paused.
    target, history = switch_over(tmp_path, [(100.0, "tick 42 boot=b")],
                                  "tick 42 boot=b\r\nt", paused_at=100.5,
                                  received=(101.2, "ick 43 boot=b"))
    shown = target.tail(10)
    assert [(line.text, line.system) for line in shown] == [
        ("tick 42 boot=b", "sys1"), ("tick 43 boot=b", "sys2")]
    target.merge(history)
    assert target.tail(10) == shown


async def follow_a_guest_writing(tmp_path: Path, written: bytes) -> ConsoleLog:
    """A console log that followed a guest's console until it wrote ``written`` and
    closed it."""
    socket = tmp_path / "console.sock"

    async def guest(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(written)
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(guest, socket)
    log = ConsoleLog(tmp_path / "console.log", "sys1")
    try:
        log.follow(socket, tmp_path / "console.raw")
        assert log._reader is not None
        await asyncio.wait_for(log._reader, 10)
    finally:
        server.close()
    return log


async def test_a_line_longer_than_the_limit_is_kept_in_pieces_and_reading_goes_on(
        tmp_path: Path) -> None:
    """An oversize line used to end the reader: the console was followed no more."""
    log = await follow_a_guest_writing(tmp_path, b"x" * (3 * LINE_MAX + 10) + b"\ntick 1\n")

    lines = [line.text for line in log.tail(10)]
    assert lines == ["x" * LINE_MAX] * 3 + ["x" * 10, "tick 1"]


async def test_the_stamped_log_on_disk_holds_at_most_twice_the_lines_kept(
        tmp_path: Path) -> None:
    written = b"".join(f"tick {i}\n".encode() for i in range(3 * HISTORY_LINES + 7))
    log = await follow_a_guest_writing(tmp_path, written)

    on_disk = (tmp_path / "console.log").read_text().splitlines()
    assert len(on_disk) <= 2 * HISTORY_LINES
    assert log.tail(1)[0].text == f"tick {3 * HISTORY_LINES + 6}"


async def test_qemu_s_raw_log_starts_again_past_its_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openlpm.agent.console.RAW_MAX_BYTES", 1000)
    (tmp_path / "console.raw").write_bytes(b"y" * 1001)

    await follow_a_guest_writing(tmp_path, b"tick 1\n")

    assert (tmp_path / "console.raw").stat().st_size == 0
