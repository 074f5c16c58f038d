"""A real lab for the integration tests: namespaces, agents, movers, an HMC, QEMU.

One lab per test module, always taken down, also after a failure; labs left by a test
run that was killed are taken down before a new one starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from openlpm.lab import site
from openlpm.lab.network import NODE_INTERFACE
from openlpm.paths import RUN_ROOT
from openlpm.processes import runs_with

TEST_PREFIX = "t"
BIN = Path(sys.executable).parent
# Rows (case, step, outcome[, seconds from the fault to the migration's end]) that the
# reliability tests add; printed after the run.
FAULT_MATRIX: list[tuple[str, str, str] | tuple[str, str, str, str]] = []
# What tests measured along the way (what, value), printed after the run.
MEASURED: list[tuple[str, str]] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"integration", "security"} & set(item.path.parts):
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MEASURED:
        terminalreporter.section("measured by the integration tests")
        for what, value in MEASURED:
            terminalreporter.write_line(f"{what}: {value}")
    if not FAULT_MATRIX:
        return
    terminalreporter.section("fault matrix: where the partition ended")
    rows = [(*row, "-")[:4] for row in FAULT_MATRIX]
    width = max(len(case) for case, *_ in rows)
    steps = max(4, *(len(step) for _, step, *_ in rows))
    terminalreporter.write_line(f"{'case':<{width}}  {'step':<{steps}}  {'s':>3}  outcome "
                                f"(s: from the fault to the migration's end)")
    for case, step, outcome, seconds in rows:
        terminalreporter.write_line(f"{case:<{width}}  {step:<{steps}}  {seconds:>3}  "
                                    f"{outcome}")


def _can_run_lab() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces)"
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed"
    return None


CHROMIUM = "/usr/bin/chromium"
# What a headless Chromium needs on a machine without a network or a display.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Debian's chromium, driven by Playwright (no browser is downloaded). Playwright's
    event loop runs until the block ends: asyncio.run() cannot be called inside it."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as browser:
        yield browser


def _left_by_a_dead_run(prefix: str) -> bool:
    """A test lab is named for the pytest process that made it (``t`` + its pid): one
    whose process is gone was left by a killed run; a living one's belongs to a run
    going on beside this one."""
    pid = prefix.removeprefix(TEST_PREFIX)
    return not (pid.isdigit() and Path(f"/proc/{pid}").exists())


@pytest.fixture(scope="session", autouse=True)
def no_stale_test_labs() -> None:
    labs = RUN_ROOT / "labs"
    for stale in labs.glob(f"{TEST_PREFIX}*") if labs.exists() else []:
        if _left_by_a_dead_run(stale.name):
            asyncio.run(site.down(stale.name, quiet=True))


@dataclass
class Lab:
    state: site.LabState

    def run(self, *argv: str, check: bool = True, stdin: str = "",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run an openlpm or HMC-compatible command against this lab, as a user would
        (as the lab's first user, hscroot, unless ``env`` names other credentials)."""
        environment = os.environ | site.client_env(self.state) | (env or {})
        result = subprocess.run([str(BIN / argv[0]), *argv[1:]], env=environment, text=True,
                                input=stdin, capture_output=True, timeout=300, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def values(self, *argv: str) -> list[str]:
        """Lines of a listing command's output (use with -F)."""
        return self.run(*argv).stdout.splitlines()

    def assert_not_on(self, system: str, partition: str) -> None:
        """The system has no partition of that name: asked for by name, ``lssyscfg``
        answers the HMC's HSCL8012 (exit 3)."""
        result = self.run("lssyscfg", "-r", "lpar", "-m", system, "--filter",
                          f"lpar_names={partition}", check=False)
        assert result.returncode == 3 and result.stderr.startswith("HSCL8012 "), \
            f"{partition} on {system}: exit {result.returncode}\n{result.stdout}{result.stderr}"

    def ticks(self, system: str, partition: str, env: dict[str, str] | None = None) -> \
            list[tuple[float, int, str, str]]:
        """(receive time, counter, boot id, system) of each tick line on the console
        (of the lab's console, or the one ``env`` names)."""
        out = self.run("openlpm", "console", "-m", system, "-p", partition,
                       "--lines", "2000", "--stamps", env=env).stdout
        ticks = []
        for line in out.splitlines():
            stamp, where, *text = line.split()
            if text and text[0] == "tick":
                ticks.append((float(stamp), int(text[1]), text[2].removeprefix("boot="),
                              where))
        return ticks

    def wait_ticks(self, system: str, partition: str, more_than: int,
                   timeout: float = 90.0, received_on: str | None = None,
                   env: dict[str, str] | None = None) -> list[tuple[float, int, str, str]]:
        """Wait for the console to hold more than ``more_than`` ticks (received on a system)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ticks = self.ticks(system, partition, env)
            if len([t for t in ticks if received_on in (None, t[3])]) > more_than:
                return ticks
            time.sleep(0.5)
        # What the partition printed last and what its system says of it, so that a
        # failure that does not recur when run alone still says why.
        last = self.run("openlpm", "console", "-m", system, "-p", partition, "--lines", "8",
                        "--stamps", env=env, check=False)
        state = self.run("lssyscfg", "-r", "lpar", "-m", system, "-F", "name,state",
                         env=env, check=False)
        raise AssertionError(f"{partition} on {system} printed no more than {more_than} "
                             f"ticks in {timeout} s; its last console lines:\n"
                             f"{last.stdout}{last.stderr}partitions of {system}:\n"
                             f"{state.stdout}{state.stderr}")

    def assert_kept_running(self, system: str, partition: str,
                            ticks: list[tuple[float, int, str, str]], boot: str,
                            env: dict[str, str] | None = None) -> None:
        """The ticks come from one boot, ``boot``, their counter without a gap or a
        repeat; a failure shows the console lines around the first break, stamped with
        the system that received each (which switch-over it was, and what came instead)."""
        self.assert_one_boot(system, partition, ticks, boot, env)
        counters = [n for _, n, _, _ in ticks]
        breaks = [i for i in range(1, len(counters)) if counters[i] != counters[i - 1] + 1]
        if not breaks:
            return
        shown = self._console_around(system, partition, f"tick {counters[breaks[0] - 1]} ",
                                     before=4, after=6, env=env)
        raise AssertionError(f"{partition}'s counter went from {counters[breaks[0] - 1]} "
                             f"to {counters[breaks[0]]}; its console there:\n{shown}")

    def assert_one_boot(self, system: str, partition: str,
                        ticks: list[tuple[float, int, str, str]], boot: str,
                        env: dict[str, str] | None = None) -> None:
        """The ticks all come from ``boot``; a failure shows what the console printed
        before the partition started again (a kernel panic names why it restarted)."""
        other = next((b for _, _, b, _ in ticks if b != boot), None)
        if other is None:
            return
        shown = self._console_around(system, partition, f"boot={other}", before=30, after=1,
                                     env=env)
        raise AssertionError(f"{partition} rebooted (boot {boot}, then {other}); its "
                             f"console before the second boot:\n{shown}")

    def _console_around(self, system: str, partition: str, text: str, before: int,
                        after: int, env: dict[str, str] | None) -> str:
        """The console lines (stamped) around the first that holds ``text``."""
        lines = self.run("openlpm", "console", "-m", system, "-p", partition, "--lines",
                         "2000", "--stamps", env=env).stdout.splitlines()
        at = next((i for i, line in enumerate(lines) if text in line), 0)
        return "\n".join(lines[max(0, at - before):at + after])

    def api(self, path: str) -> Any:
        """GET from the lab's HMC REST API, the API the CLI and web console use."""
        reply = httpx.get(f"{self.state.hmc_url}{path}", timeout=30,
                          headers=site.console_headers(self.state),
                          verify=site.console_trust(self.state))
        reply.raise_for_status()
        return reply.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST to the lab's HMC REST API."""
        reply = httpx.post(f"{self.state.hmc_url}{path}", json=body, timeout=60,
                           headers=site.console_headers(self.state),
                           verify=site.console_trust(self.state))
        reply.raise_for_status()
        return reply.json()

    def kill(self, role: str) -> None:
        """End a service of the lab at once (SIGKILL), as a crash would."""
        pid = site.LabState.load(self.state.prefix).pids[role]
        if runs_with(pid, site.service_marker(self.state.prefix)):
            os.kill(pid, signal.SIGKILL)

    def restart(self, role: str) -> None:
        asyncio.run(site.restart(self.state.prefix, role))

    @contextlib.contextmanager
    def slow_link(self, rate: str, *systems: str) -> Iterator[None]:
        """Limit what these systems send to ``rate`` (a tc rate, e.g. 1gbit), as a
        slower migration network than the lab's would."""
        ports = [["ip", "netns", "exec", f"{self.state.prefix}-{s}", "tc", "qdisc"]
                 for s in systems]
        for port in ports:
            subprocess.run([*port, "add", "dev", NODE_INTERFACE, "root", "tbf", "rate", rate,
                            "burst", "256kb", "latency", "100ms"], check=True)
        try:
            yield
        finally:
            for port in ports:
                subprocess.run([*port, "del", "dev", NODE_INTERFACE, "root"], check=False)

    def link(self, system: str, up: bool) -> None:
        """Plug or unplug a system's cable on the lab switch."""
        subprocess.run(["ip", "-n", f"{self.state.prefix}-sw", "link", "set", system,
                        "up" if up else "down"], check=True)

    def qemu_pids(self, system: str, partition: str = "") -> list[int]:
        """QEMU processes of a system (of one partition of it) found in /proc."""
        directory = site.LabState.directory(self.state.prefix) / system / "run" / partition
        marker = str(directory).encode()
        pids = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmdline = (proc / "cmdline").read_bytes()
                except OSError:
                    continue
                if cmdline.startswith(b"qemu-system") and marker + b"/" in cmdline:
                    pids.append(int(proc.name))
        return pids


@contextlib.contextmanager
def running_lab(**fields: Any) -> Iterator[Lab]:
    """A lab of two systems (``fields``: LabSpec fields to change), always taken down."""
    reason = _can_run_lab()
    if reason:
        pytest.skip(reason)
    settings: dict[str, Any] = {
        "prefix": f"{TEST_PREFIX}{os.getpid()}", "systems": 2, "cpus": 4,
        "memory_mb": 2048, "accel": os.environ.get("OPENLPM_ACCEL", "auto"),
        "hmc_port": site.free_port(), "make_default": False}
    spec = site.LabSpec(**settings | fields)
    try:
        yield Lab(asyncio.run(site.up(spec, say=lambda _: None)))
    finally:
        asyncio.run(site.down(spec.prefix, quiet=True))


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The module's lab; a module may set LAB_SPEC (LabSpec fields) to name its systems."""
    with running_lab(**getattr(request.module, "LAB_SPEC", {})) as made:
        yield made
