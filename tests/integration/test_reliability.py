"""Never lose a partition: faults injected for real at step 4, and what becomes of it.

Each case injects one fault while a running partition's memory is crossing (step 4) —
a QEMU, a mover, an agent or the console killed, a QEMU frozen (SIGSTOP), the lab link
cut — and then asserts:
the partition is on exactly one system (its profile and, when running, one QEMU); its
workload's counter went on without a gap and without a reboot; no leftover remains on
the other system; lssyscfg and lslparmigr tell the truth. The outcome of every case is
printed as the fault matrix after the run (docs/reliability.md keeps it).

The partition "busy" rewrites 96 MiB of memory without pause, faster than the lab link
carries it; migrated with a 20 ms downtime limit it stays in step 4 until the fault (or a
stop) ends it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openlpm.hmc.mobility.migrate import STALL_TIMEOUT_S
from openlpm.lab import site
from openlpm.processes import runs_with
from tests.integration.conftest import BIN, FAULT_MATRIX, Lab

SOURCE, TARGET = "sys1", "sys2"
BUSY = ("name=busy,profile_name=default,min_mem=128,desired_mem=384,max_mem=512,"
        "min_procs=1,desired_procs=1,max_procs=2,kernel_args=openlpm.dirty_mb=96")
CALM = ("name=calm,profile_name=default,min_mem=128,desired_mem=768,max_mem=1024,"
        "min_procs=1,desired_procs=1,max_procs=2,kernel_args=openlpm.fill_mb=400")
STEP_TIMEOUT_S = 60.0
STEADY_DOWNTIME_MS = 20
# A migration cut off for making no progress ends within the stall cut-off of the fault
# plus what docs/reliability.md allows the diagnosis and the undo (15 s), on a machine
# busy with other labs beside: 30 s more here.
CUT_OFF_MARGIN_S = 30.0
# The console waits this long for an agent's answer (clients/agent.py).
AGENT_CALL_TIMEOUT_S = 60.0


def place(lab: Lab, name: str) -> dict[str, str | None]:
    """The partition's state on each system (None where it is not), checked with QEMU."""
    where: dict[str, str | None] = {}
    for system in (SOURCE, TARGET):
        listed = lab.run("lssyscfg", "-r", "lpar", "-m", system, "-F", "state",
                         "--filter", f"lpar_names={name}", check=False)
        # A partition the system does not have: the HMC's HSCL8012.
        absent = listed.returncode == 3 and listed.stderr.startswith("HSCL8012 ")
        assert absent or listed.returncode == 0, listed.stderr
        where[system] = None if absent else listed.stdout.splitlines()[0]
        qemus = len(lab.qemu_pids(system, name))
        assert qemus == (1 if where[system] == "Running" else 0), \
            f"{system} has {qemus} QEMU for {name} in state {where[system]}"
    return where


def assert_in_one_place(lab: Lab, name: str, system: str, state: str = "Running") -> None:
    other = TARGET if system == SOURCE else SOURCE
    assert place(lab, name) == {system: state, other: None}
    assert lab.values("lslparmigr", "-r", "lpar", "-m", system, "-F", "migration_state",
                      "--filter", f"lpar_names={name}") == ["Not Migrating"]


def assert_workload_went_on(lab: Lab, name: str, system: str, boot: str, seen: int) -> None:
    ticks = lab.wait_ticks(system, name, more_than=seen + 2, timeout=60)
    lab.assert_kept_running(system, name, ticks, boot)


def start_migration(lab: Lab, name: str, *extra: str, converging: bool = False,
                    source: str = SOURCE, target: str = TARGET) -> subprocess.Popen[str]:
    """``migrlpar -o m`` in the background; unless ``converging``, with a downtime limit
    so small that a busy partition's stream runs until something ends it."""
    steady = [] if converging else ["-i", f"max_downtime_ms={STEADY_DOWNTIME_MS}"]
    return subprocess.Popen(
        [str(BIN / "migrlpar"), "-o", "m", "-m", source, "-t", target, "-p", name, *steady,
         *extra],
        env={**site.client_env(lab.state), "PATH": "/usr/bin:/bin"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_stream(lab: Lab, name: str, least_mib: int = 40) -> None:
    """Until step 4 runs and has sent some memory."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        values = lab.values("lslparmigr", "-r", "lpar", "-m", SOURCE, "-F",
                            "migration_step,bytes_transmitted", "--filter",
                            f"lpar_names={name}")
        step, sent = values[0].split(",")
        if step == "4" and int(sent) >= least_mib << 20:
            return
        time.sleep(0.2)
    raise AssertionError(f"the migration of {name} did not reach step 4; its newest record: "
                         f"{newest_record(lab, name)}")


def finish(migration: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = migration.communicate(timeout=180)
    return migration.returncode, err


def seconds_since(fault: float) -> str:
    """The seconds from a fault to now (the migration's end), as the matrix shows them."""
    return f"{time.monotonic() - fault:.0f}"


def newest_record(lab: Lab, name: str) -> dict[str, object]:
    record: dict[str, object] = lab.api(f"/partitions/{name}/migration")
    return record


@pytest.fixture(scope="module")
def busy(lab: Lab) -> Iterator[str]:
    """A partition that dirties memory faster than the link carries it, so that a stream
    stays in step 4 until the console's policy lets it converge: on a 1 Gbit/s link, as
    the lab's own carries more than the guest dirties."""
    with lab.slow_link("1gbit", SOURCE, TARGET):
        lab.run("mksyscfg", "-r", "lpar", "-m", SOURCE, "-i", BUSY)
        lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", "busy")
        lab.wait_ticks(SOURCE, "busy", more_than=3)
        yield "busy"


def ticks_now(lab: Lab, system: str, name: str) -> tuple[str, int]:
    ticks = lab.ticks(system, name)
    return ticks[-1][2], len(ticks)


def test_stop_in_step_4_leaves_the_partition_on_the_source(lab: Lab, busy: str) -> None:
    boot, seen = ticks_now(lab, SOURCE, busy)
    migration = start_migration(lab, busy)
    wait_for_stream(lab, busy)

    stopped = lab.run("migrlpar", "-o", "s", "-m", SOURCE, "-p", busy)

    status, err = finish(migration)
    assert "stopped" in stopped.stdout and status == 10 and "HSCLF201" in err
    assert newest_record(lab, busy)["state"] == "Migration Stopped"
    assert_in_one_place(lab, busy, SOURCE)
    assert_workload_went_on(lab, busy, SOURCE, boot, seen)
    FAULT_MATRIX.append(("migrlpar -o s", "4", "stopped; runs on the source"))


@pytest.mark.parametrize(("case", "role"), [
    ("target QEMU killed", None),
    ("source mover killed", f"{SOURCE}-mover"),
    ("target mover killed", f"{TARGET}-mover"),
])
def test_a_broken_stream_leaves_the_partition_running_on_the_source(
        lab: Lab, busy: str, case: str, role: str | None) -> None:
    boot, seen = ticks_now(lab, SOURCE, busy)
    migration = start_migration(lab, busy)
    wait_for_stream(lab, busy)

    fault = time.monotonic()
    if role is None:
        for pid in lab.qemu_pids(TARGET, busy):
            os.kill(pid, signal.SIGKILL)
    else:
        lab.kill(role)

    status, err = finish(migration)
    took = seconds_since(fault)
    if role is not None:
        lab.restart(role)
    assert status == 10, err
    assert_in_one_place(lab, busy, SOURCE)
    assert_workload_went_on(lab, busy, SOURCE, boot, seen)
    record = newest_record(lab, busy)
    FAULT_MATRIX.append((case, "4", f"failed {record['error_code']}; runs on the source",
                         took))


@pytest.mark.parametrize(("case", "system", "code"), [
    ("target QEMU frozen (SIGSTOP)", TARGET, "HSCLF215"),
    ("source QEMU frozen (SIGSTOP)", SOURCE, "HSCLF216"),
])
def test_a_frozen_qemu_ends_the_migration_at_the_stall_cut_off_naming_that_qemu(
        lab: Lab, busy: str, case: str, system: str, code: str) -> None:
    """A hang is not a death (issue 23): the stream stops moving, and the migration ends
    at the stall cut-off from the freeze, its error naming the QEMU that froze."""
    boot, seen = ticks_now(lab, SOURCE, busy)
    migration = start_migration(lab, busy)
    wait_for_stream(lab, busy)
    [pid] = lab.qemu_pids(system, busy)
    marker = str(site.LabState.directory(lab.state.prefix) / system / "run" / busy).encode()

    fault = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        status, err = finish(migration)
        took = seconds_since(fault)
    finally:
        if runs_with(pid, marker):  # the target's is ended by the undo
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    assert status == 10 and code in err, err
    assert float(took) <= STALL_TIMEOUT_S + CUT_OFF_MARGIN_S, f"ended {took} s after the fault"
    outcome = f"failed {code}; runs on the source"
    if system == SOURCE:
        # Its stream could not be cancelled while it was stopped (the message says so):
        # continued, it runs on, and recovery settles the agent's view of it.
        assert f"migrlpar -o r -m {SOURCE} -p {busy}" in err, err
        lab.run("migrlpar", "-o", "r", "-m", SOURCE, "-p", busy)
        outcome = f"failed {code}; continued, -o r; runs on the source"
    assert_in_one_place(lab, busy, SOURCE)
    assert_workload_went_on(lab, busy, SOURCE, boot, seen)
    FAULT_MATRIX.append((case, "4", outcome, took))


@contextlib.contextmanager
def full(directory: Path) -> Iterator[None]:
    """``directory`` on a small file system of its own, its files copied there and the
    rest filled, as a full disk; as it was again afterwards (what was written there
    meanwhile is dropped with it)."""
    files = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs",
                    str(directory)], check=True)
    try:
        for name, data in files.items():
            (directory / name).write_bytes(data)
        with contextlib.suppress(OSError), open(directory / "filler", "wb") as filler:
            while True:
                filler.write(bytes(1 << 16))
                filler.flush()
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def test_a_full_state_directory_on_the_target_stops_the_migration_in_step_1(
        lab: Lab, busy: str) -> None:
    boot, seen = ticks_now(lab, SOURCE, busy)
    profiles = site.LabState.directory(lab.state.prefix) / TARGET / "profiles"

    with full(profiles):
        fault = time.monotonic()
        moved = lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", busy,
                        check=False)
        took = seconds_since(fault)

    assert moved.returncode == 10 and "HSCLF136" in moved.stderr, moved.stderr
    assert f"state directory {profiles} is full" in moved.stderr
    assert newest_record(lab, busy)["step"] == 1
    assert_in_one_place(lab, busy, SOURCE)
    assert_workload_went_on(lab, busy, SOURCE, boot, seen)
    FAULT_MATRIX.append(("target state directory full", "1",
                         "failed HSCLF136; runs on the source", took))


def test_console_killed_in_step_4_is_recovered_when_it_restarts(lab: Lab, busy: str) -> None:
    boot, seen = ticks_now(lab, SOURCE, busy)
    migration = start_migration(lab, busy)
    wait_for_stream(lab, busy)

    lab.kill("hmc")
    status, _ = finish(migration)
    lab.restart("hmc")

    assert status == 8  # the command lost its console; the migration is not lost
    deadline = time.monotonic() + 30
    while "Recovered" not in str(newest_record(lab, busy).get("error_message")):
        assert time.monotonic() < deadline, newest_record(lab, busy)
        time.sleep(0.5)
    assert_in_one_place(lab, busy, SOURCE)
    assert_workload_went_on(lab, busy, SOURCE, boot, seen)
    FAULT_MATRIX.append(("console killed", "4", "recovered at restart; runs on the source"))


def test_target_agent_killed_then_stop_leaves_a_profile_that_recovery_removes(
        lab: Lab, busy: str) -> None:
    boot, seen = ticks_now(lab, SOURCE, busy)
    migration = start_migration(lab, busy)
    wait_for_stream(lab, busy)

    lab.kill(f"{TARGET}-agent")
    lab.run("migrlpar", "-o", "s", "-m", SOURCE, "-p", busy)
    finish(migration)
    journal = lab.api(f"/migrations/{newest_record(lab, busy)['id']}/journal")
    assert any(e["phase"] == "undo failed" for e in journal)
    lab.restart(f"{TARGET}-agent")
    assert place(lab, busy)[TARGET] is not None, "the target should still hold the shell"

    recovered = lab.run("migrlpar", "-o", "r", "-m", SOURCE, "-p", busy)

    assert f"the partition is on {SOURCE}" in recovered.stdout
    assert_in_one_place(lab, busy, SOURCE)
    assert_workload_went_on(lab, busy, SOURCE, boot, seen)
    FAULT_MATRIX.append(("target agent killed, then -o s", "4",
                         "shell left; -o r removed it; runs on the source"))


def test_source_agent_killed_in_step_4_leaves_the_partition_running_on_the_source(
        lab: Lab, busy: str) -> None:
    boot, seen = ticks_now(lab, SOURCE, busy)
    migration = start_migration(lab, busy)
    wait_for_stream(lab, busy)

    fault = time.monotonic()
    lab.kill(f"{SOURCE}-agent")
    status, err = finish(migration)
    took = seconds_since(fault)
    lab.restart(f"{SOURCE}-agent")

    assert status == 10, err
    assert_in_one_place(lab, busy, SOURCE)
    assert_workload_went_on(lab, busy, SOURCE, boot, seen)
    FAULT_MATRIX.append(("source agent killed", "4",
                         f"failed {newest_record(lab, busy)['error_code']}; the target's "
                         f"copy removed; runs on the source", took))


def test_link_cut_for_good_stops_the_stream_and_force_recovery_settles_it(
        lab: Lab, busy: str) -> None:
    boot, seen = ticks_now(lab, SOURCE, busy)
    migration = start_migration(lab, busy, "-w", "0.2")
    wait_for_stream(lab, busy)

    fault = time.monotonic()
    lab.link(TARGET, up=False)
    try:
        status, err = finish(migration)
        took = seconds_since(fault)
        assert status == 10 and "HSCLF202" in err
        refused = lab.run("migrlpar", "-o", "r", "-m", SOURCE, "-p", busy, check=False)
        assert refused.returncode == 8 and "HSCLF208" in refused.stderr
        forced = lab.run("migrlpar", "-o", "r", "-m", SOURCE, "-p", busy, "--force")
        assert f"the partition is on {SOURCE}" in forced.stdout
        assert_workload_went_on(lab, busy, SOURCE, boot, seen)
    finally:
        lab.link(TARGET, up=True)
    lab.run("migrlpar", "-o", "r", "-m", SOURCE, "-p", busy)
    assert_in_one_place(lab, busy, SOURCE)
    FAULT_MATRIX.append(("link to target cut for good", "4",
                         "failed HSCLF202 (-w); -o r --force, then -o r; runs on the source",
                         took))


def test_link_cut_briefly_does_not_stop_the_migration(lab: Lab) -> None:
    lab.run("mksyscfg", "-r", "lpar", "-m", SOURCE, "-i", CALM)
    lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", "calm")
    lab.wait_ticks(SOURCE, "calm", more_than=1, timeout=120)
    deadline = time.monotonic() + 120
    while not any("openlpm filled" in line for line in lab.run(
            "openlpm", "console", "-m", SOURCE, "-p", "calm", "--lines", "50").stdout.split(
            "\n")):
        assert time.monotonic() < deadline, "the workload did not fill its memory"
        time.sleep(1)
    boot, seen = ticks_now(lab, SOURCE, "calm")
    migration = start_migration(lab, "calm", converging=True)
    wait_for_stream(lab, "calm", least_mib=16)

    lab.link(TARGET, up=False)
    time.sleep(2)
    lab.link(TARGET, up=True)

    status, err = finish(migration)
    assert status == 0, err
    assert_in_one_place(lab, "calm", TARGET)
    assert_workload_went_on(lab, "calm", TARGET, boot, seen)
    FAULT_MATRIX.append(("link to target cut for 2 s", "4", "completed; runs on the target"))


def test_target_agent_killed_after_the_stream_completes_is_finished_by_recovery(
        lab: Lab) -> None:
    where = next(s for s, state in place(lab, "calm").items() if state == "Running")
    other = TARGET if where == SOURCE else SOURCE
    boot, seen = ticks_now(lab, where, "calm")
    migration = start_migration(lab, "calm", converging=True, source=where, target=other)
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while lab.values("lslparmigr", "-r", "lpar", "-m", where, "-F", "migration_step",
                     "--filter", "lpar_names=calm") != ["4"]:
        assert time.monotonic() < deadline, "the migration did not reach step 4"
        time.sleep(0.1)

    lab.kill(f"{other}-agent")
    status, err = finish(migration)
    lab.restart(f"{other}-agent")
    assert status == 10 and f"migrlpar -o r -m {where} -p calm" in err, err

    recovered = lab.run("migrlpar", "-o", "r", "-m", where, "-p", "calm")

    assert f"the partition is on {other}" in recovered.stdout
    assert_in_one_place(lab, "calm", other)
    assert_workload_went_on(lab, "calm", other, boot, seen)
    FAULT_MATRIX.append(("target agent killed, stream completes", "5",
                         "failed after the commit point; -o r finished it; runs on the "
                         "target"))


def test_target_agent_frozen_in_step_4_ends_the_job_at_its_time_out_in_step_5(
        lab: Lab) -> None:
    """An agent that hangs is waited on no longer than the console's time-out of agent
    calls (60 s): the stream completes without it, step 5 waits that long for it, and
    the job ends after its commit point for recovery to finish."""
    where = next(s for s, state in place(lab, "calm").items() if state == "Running")
    other = TARGET if where == SOURCE else SOURCE
    boot, seen = ticks_now(lab, where, "calm")
    migration = start_migration(lab, "calm", converging=True, source=where, target=other)
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while lab.values("lslparmigr", "-r", "lpar", "-m", where, "-F", "migration_step",
                     "--filter", "lpar_names=calm") != ["4"]:
        assert time.monotonic() < deadline, "the migration did not reach step 4"
        time.sleep(0.1)
    agent = site.LabState.load(lab.state.prefix).pids[f"{other}-agent"]
    assert runs_with(agent, site.service_marker(lab.state.prefix))

    fault = time.monotonic()
    os.kill(agent, signal.SIGSTOP)
    try:
        status, err = finish(migration)
        took = seconds_since(fault)
    finally:
        os.kill(agent, signal.SIGCONT)

    assert status == 10 and "HSCLF107" in err and f"migrlpar -o r -m {where} -p calm" in err, \
        err
    assert float(took) <= AGENT_CALL_TIMEOUT_S + STEP_TIMEOUT_S, f"ended {took} s after"
    recovered = lab.run("migrlpar", "-o", "r", "-m", where, "-p", "calm")
    assert f"the partition is on {other}" in recovered.stdout
    assert_in_one_place(lab, "calm", other)
    assert_workload_went_on(lab, "calm", other, boot, seen)
    FAULT_MATRIX.append(("target agent frozen (SIGSTOP), stream completes", "5",
                         "failed HSCLF107 after the commit point (agent time-out); -o r "
                         "finished it; runs on the target", took))


def test_target_out_of_memory_at_activation_leaves_the_partition_inactive_there(
        lab: Lab) -> None:
    calm_on = next(s for s, state in place(lab, "calm").items() if state == "Running")
    lab.run("chsysstate", "-r", "lpar", "-m", calm_on, "-o", "shutdown", "-n", "calm",
            "--immed")
    hog = ("name=hog,profile_name=default,min_mem=128,desired_mem=1536,max_mem=2048,"
           "min_procs=1,desired_procs=1,max_procs=2")
    lab.run("mksyscfg", "-r", "lpar", "-m", TARGET, "-i", hog)
    lab.run("chsysstate", "-r", "lpar", "-m", TARGET, "-o", "on", "-n", "hog")
    try:
        big = ("name=big,profile_name=default,min_mem=128,desired_mem=1024,max_mem=2048,"
               "min_procs=1,desired_procs=1,max_procs=2")
        lab.run("mksyscfg", "-r", "lpar", "-m", SOURCE, "-i", big)
        lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", "big")
        lab.run("chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "shutdown", "-n", "big",
                "--immed")
        moved = lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "big")
        assert "HSCLF190" in moved.stderr

        refused = lab.run("chsysstate", "-r", "lpar", "-m", TARGET, "-o", "on", "-n", "big",
                          check=False)

        assert refused.returncode == 7 and "HSCLF125" in refused.stderr
        assert_in_one_place(lab, "big", TARGET, state="Not Activated")
    finally:
        lab.run("chsysstate", "-r", "lpar", "-m", TARGET, "-o", "shutdown", "-n", "hog",
                "--immed")
    FAULT_MATRIX.append(("target out of memory at activation", "after 7",
                         "activation refused HSCLF125; Not Activated on the target"))


@pytest.mark.parametrize(("convergence", "max_downtime_ms", "proof"), [
    ("precopy", 1000, "downtime limit"),
    ("auto-converge", 50, "throttled"),
    ("postcopy", 50, "post-copy"),
])
def test_a_partition_dirtying_memory_faster_than_the_link_still_migrates(
        lab: Lab, busy: str, convergence: str, max_downtime_ms: int, proof: str) -> None:
    source = next(s for s, state in place(lab, busy).items() if state == "Running")
    target = TARGET if source == SOURCE else SOURCE
    boot, seen = ticks_now(lab, source, busy)
    command = ["migrlpar", "-o", "m", "-m", source, "-t", target, "-p", busy, "-w", "2",
               "-i", f"convergence={convergence},max_downtime_ms={max_downtime_ms}"]
    if convergence == "auto-converge" and lab.state.accel == "tcg":
        refused = lab.run(*command, check=False)
        assert refused.returncode == 6 and "HSCLF420" in refused.stderr
        assert_in_one_place(lab, busy, source)
        FAULT_MATRIX.append(("memory dirtied faster than the link, auto-converge", "-",
                             "refused under TCG (HSCLF420); runs on the source"))
        return

    lab.run(*command)

    assert_in_one_place(lab, busy, target)
    assert_workload_went_on(lab, busy, target, boot, seen)
    record = newest_record(lab, busy)
    rounds = record["rounds"]
    assert isinstance(rounds, list) and len(rounds) >= 2
    journal = [e["phase"] for e in lab.api(f"/migrations/{record['id']}/journal")]
    throttled = any(r["throttle_pct"] > 0 for r in rounds)
    assert {"downtime limit": "downtime limit" in journal, "throttled": throttled,
            "post-copy": "post-copy" in journal}[proof]
    FAULT_MATRIX.append((f"memory dirtied faster than the link, {convergence}", "4",
                         f"completed in {len(rounds)} passes; runs on the target"))
