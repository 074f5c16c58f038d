"""The test site's stand-in for systemd (tests/integration/supervisor.py) runs a unit as
its [Service] section says, with real processes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration import supervisor
from tests.integration.supervisor import Unit, UnitError, seconds


@pytest.fixture
def units(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(supervisor, "UNIT_DIR", tmp_path)
    return tmp_path


def write(units: Path, service: str) -> str:
    (units / "x.service").write_text(f"[Unit]\nDescription=x\n\n[Service]\n{service}\n"
                                     f"[Install]\nWantedBy=multi-user.target\n")
    return "x.service"


def run_until(unit: Unit, done: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        unit.check()
        time.sleep(0.02)
    assert done(), "the unit did not get there in time"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_time_spans_are_read_as_systemd_writes_them() -> None:
    assert seconds("5") == 5 and seconds("5s") == 5 and seconds("100ms") == 0.1
    assert seconds("1min 30s") == 90
    with pytest.raises(UnitError):
        seconds("3 fortnights")


def test_a_setting_it_does_not_honour_is_refused_rather_than_ignored(units: Path) -> None:
    with pytest.raises(UnitError, match="User"):
        Unit.load(write(units, "ExecStart=/bin/true\nUser=nobody"))
    with pytest.raises(UnitError, match="Type=forking"):
        Unit.load(write(units, "Type=forking\nExecStart=/bin/true"))
    with pytest.raises(UnitError, match="StandardOutput=file:/tmp/x"):
        Unit.load(write(units, "ExecStart=/bin/true\nStandardOutput=file:/tmp/x"))


def test_a_failed_main_process_is_restarted_and_a_clean_end_is_not(
        units: Path, tmp_path: Path) -> None:
    count = tmp_path / "starts"
    unit = Unit.load(write(units, f"ExecStart=/bin/sh -c 'echo >> {count}; exit 3'\n"
                                  f"Restart=on-failure\nRestartSec=10ms"))
    unit.start()
    run_until(unit, lambda: count.exists() and len(count.read_text().split("\n")) > 3)
    unit.stop()

    clean = Unit.load(write(units, "ExecStart=/bin/true\nRestart=on-failure"))
    clean.start()
    run_until(clean, lambda: clean.process is None)
    time.sleep(0.3)
    clean.check()
    assert clean.process is None and clean.restart_at is None


def test_a_main_process_killed_by_sigkill_is_restarted_with_a_new_pid(units: Path) -> None:
    unit = Unit.load(write(units, "ExecStart=/bin/sleep 60\nRestart=on-failure\n"
                                  "RestartSec=50ms"))
    unit.start()
    assert unit.process is not None
    first = unit.process.pid
    os.kill(first, signal.SIGKILL)
    run_until(unit, lambda: unit.process is not None and unit.process.pid != first)
    unit.stop()


@pytest.mark.parametrize(("mode", "child_survives"), [("process", True),
                                                      ("control-group", False)])
def test_stopping_ends_what_the_kill_mode_says(units: Path, tmp_path: Path, mode: str,
                                               child_survives: bool) -> None:
    pidfile = tmp_path / "child.pid"
    unit = Unit.load(write(units, f"ExecStart=/bin/sh -c 'sleep 60 & echo $! > {pidfile}; "
                                  f"wait'\nKillMode={mode}\nTimeoutStopSec=5"))
    unit.start()
    run_until(unit, lambda: pidfile.exists() and pidfile.read_text().strip())
    child = int(pidfile.read_text())
    unit.stop()
    time.sleep(0.2)
    try:
        assert alive(child) == child_survives
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
