"""A stand-in for systemd where it cannot run (a test machine's container): it runs the
named units of /etc/systemd/system as their [Service] section says.

Run with the system's python3 (standard library only) as ``python3 supervisor.py
UNIT...``, in the host whose units they are. What it honours, as systemd does:
ExecStart (the main process, in a session of its own), StandardOutput and
StandardError (journal: the supervisor's output), Environment, WorkingDirectory, UMask,
Restart (no, on-failure, always), RestartSec, KillMode (control-group and mixed: the
main process's group; process: the main process alone, so what it started, daemonized
QEMUs say, runs on), TimeoutStopSec. Any other [Service] setting is refused, so a unit
never runs other than it is written. Each start and end is a line of its own on standard output
(``supervisor: UNIT started pid N``), which is how a test learns a unit's main pid.
On SIGTERM it stops the units, the last started first, and exits.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

UNIT_DIR = Path("/etc/systemd/system")
KNOWN = {"Type", "ExecStart", "Environment", "WorkingDirectory", "Restart", "RestartSec",
         "KillMode", "TimeoutStopSec", "UMask", "StandardOutput", "StandardError"}
# Where a unit's output may go: the supervisor's own output is the journal here.
JOURNAL = {"journal", "inherit", "journal+console"}
# Ends by these signals are clean for Restart=on-failure (systemd.service(5)).
CLEAN_SIGNALS = {signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE}
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class UnitError(Exception):
    """A unit this supervisor cannot run as written."""


def seconds(text: str) -> float:
    """A systemd time span: ``5``, ``5s``, ``100ms``, ``1min 30s``."""
    units = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 0.001, "min": 60.0, "m": 60.0}
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)\s*([a-z]*)", text):
        if unit not in units:
            raise UnitError(f"time span {text!r} has unit {unit!r}")
        total += float(number) * units[unit]
    return total


@dataclass
class Unit:
    name: str
    argv: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    directory: str = "/"
    umask: int = 0o022
    restart: str = "no"
    restart_s: float = 0.1
    kill_mode: str = "control-group"
    stop_timeout_s: float = 90.0
    process: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None

    @classmethod
    def load(cls, name: str) -> Unit:
        service = section(UNIT_DIR / name, "Service")
        unknown = set(service) - KNOWN
        if unknown:
            raise UnitError(f"{name}: this supervisor does not run {sorted(unknown)}")
        if service.get("Type", "simple") not in ("simple", "exec"):
            raise UnitError(f"{name}: Type={service['Type']} is not run here")
        unit = cls(name, shlex.split(service["ExecStart"]))
        for assignment in shlex.split(service.get("Environment", "")):
            key, _, value = assignment.partition("=")
            unit.environment[key] = value
        unit.directory = service.get("WorkingDirectory", "/")
        unit.umask = int(service.get("UMask", "0022"), 8)
        for stream in ("StandardOutput", "StandardError"):
            if service.get(stream, "journal") not in JOURNAL:
                raise UnitError(f"{name}: {stream}={service[stream]} is not run here")
        unit.restart = service.get("Restart", "no")
        if unit.restart not in ("no", "on-failure", "always"):
            raise UnitError(f"{name}: Restart={unit.restart} is not run here")
        unit.restart_s = seconds(service.get("RestartSec", "100ms"))
        unit.kill_mode = service.get("KillMode", "control-group")
        if unit.kill_mode not in ("control-group", "mixed", "process"):
            raise UnitError(f"{name}: KillMode={unit.kill_mode} is not run here")
        unit.stop_timeout_s = seconds(service.get("TimeoutStopSec", "90s"))
        return unit

    def start(self) -> None:
        self.restart_at = None
        self.process = subprocess.Popen(
            self.argv, cwd=self.directory, stdin=subprocess.DEVNULL,
            env={"PATH": PATH, "LANG": "C.UTF-8", **self.environment},
            start_new_session=True, preexec_fn=lambda: os.umask(self.umask))
        say(f"{self.name} started pid {self.process.pid}: {shlex.join(self.argv)}")

    def check(self) -> None:
        """Notice the main process's end; restart it when the unit says so."""
        if self.process is None or self.process.poll() is None:
            if self.restart_at is not None and time.monotonic() >= self.restart_at:
                self.start()
            return
        code, self.process = self.process.returncode, None
        failed = code > 0 or (code < 0 and signal.Signals(-code) not in CLEAN_SIGNALS)
        how = f"exited {code}" if code >= 0 else f"was killed by {signal.Signals(-code).name}"
        if self.restart == "always" or (self.restart == "on-failure" and failed):
            say(f"{self.name} {how}; restarting in {self.restart_s:g} s "
                f"(Restart={self.restart})")
            self.restart_at = time.monotonic() + self.restart_s
        else:
            say(f"{self.name} {how}; not restarted (Restart={self.restart})")

    def stop(self) -> None:
        self.restart_at = None
        if self.process is None:
            return
        process, self.process = self.process, None
        self._signal(process, signal.SIGTERM)
        try:
            process.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self._signal(process, signal.SIGKILL)
            process.wait()
        if self.kill_mode == "mixed":
            self._signal(process, signal.SIGKILL, group=True)
        say(f"{self.name} stopped (KillMode={self.kill_mode})")

    def _signal(self, process: subprocess.Popen[bytes], sig: int, group: bool = False) -> None:
        try:
            if self.kill_mode == "control-group" or group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
        except ProcessLookupError:
            pass


def section(path: Path, name: str) -> dict[str, str]:
    """The settings of one section of a unit file (a later setting of a key wins)."""
    settings: dict[str, str] = {}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == name:
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    if "ExecStart" not in settings and name == "Service":
        raise UnitError(f"{path} has no [Service] ExecStart")
    return settings


def say(text: str) -> None:
    print(f"supervisor: {text}", flush=True)


def main(names: list[str]) -> None:
    units = [Unit.load(name) for name in names]
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    for unit in units:
        unit.start()
    while not stopping:
        for unit in units:
            unit.check()
        time.sleep(0.1)
    for unit in reversed(units):
        unit.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
