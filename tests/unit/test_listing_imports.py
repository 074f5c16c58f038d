"""lssyscfg and migrlpar -o v and m start without httpx, asyncio, pydantic or rich
(issue 21: a listing within 150 ms of process start; bench/cli.py measures it; the
migration's start-up off its critical path): a whole command, run as its console script
runs it in a process of its own, against a console in this test, imports none of them
and prints the HMC's lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from openlpm.model import (
    MigrationKind,
    MigrationRecord,
    MigrationState,
    MigrationStep,
    Partition,
    PartitionProfile,
    PartitionState,
    PartitionSummary,
    ValidationReport,
)
from tests.unit.console_http import Answer, serving

HEAVY = ("httpx", "httpcore", "anyio", "asyncio", "pydantic", "pydantic_core", "rich",
         "openlpm.model", "tomllib", "importlib.metadata")
COMMAND = """
import sys
from openlpm.cli.{module} import {module}
status = {module}()
print(sorted(m for m in sys.modules if m in {heavy!r} or m.split(".")[0] in {heavy!r}),
      file=sys.stderr)
sys.exit(status)
"""
LISTING = COMMAND.format(module="lssyscfg", heavy=HEAVY)
MIGRLPAR = COMMAND.format(module="migrlpar", heavy=HEAVY)


def run_by_door(url: str, script: str, words: list[str]) -> subprocess.CompletedProcess[str]:
    """As the SSH door runs a command: the words in OPENLPM_ARGV, the console and token
    given, no proxy."""
    env = {name: value for name, value in os.environ.items()
           if name.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env |= {"OPENLPM_HMC": url, "OPENLPM_TOKEN": "olpm_t", "OPENLPM_ARGV": json.dumps(words)}
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_listing_imports_none_of_the_libraries_that_cost_its_start_up() -> None:
    profile = PartitionProfile(name="web1", lpar_id=1, min_mem=256, desired_mem=512,
                               max_mem=512, min_procs=1, desired_procs=1, max_procs=1)
    partition = PartitionSummary(system="sys1", partition=Partition(
        profile=profile, state=PartitionState.RUNNING))
    answers = {"/systems/sys1/partitions": Answer.json([partition.model_dump(mode="json")])}
    with serving(answers) as (url, seen):
        # As the SSH door runs it: the words in OPENLPM_ARGV, the console and token given.
        done = run_by_door(url, LISTING, ["-r", "lpar", "-m", "sys1", "-F", "name,state"])
    assert (done.returncode, done.stdout) == (0, "web1,Running\n"), done.stderr
    assert done.stderr == "[]\n"
    assert seen.requests[0][1]["Authorization"] == "Bearer olpm_t"


def test_migrlpar_validates_and_migrates_without_them() -> None:
    report = ValidationReport(partition="web1", source="sys1", target="sys2",
                              kind=MigrationKind.ACTIVE, findings=())
    first = MigrationRecord(id="m-1", partition="web1", source="sys1", target="sys2",
                            kind=MigrationKind.ACTIVE, state=MigrationState.STARTING,
                            started=1.0)
    moving = first.model_copy(update={"state": MigrationState.IN_PROGRESS,
                                      "step": MigrationStep.MIGRATE,
                                      "step_phase": "a: pre-copy"})
    done = first.model_copy(update={"state": MigrationState.COMPLETE, "ended": 3.5,
                                    "step": MigrationStep.PROFILE_OFF_SOURCE})
    answers = {"POST /validations": Answer.json(report.model_dump(mode="json")),
               "POST /migrations": Answer.json(first.model_dump(mode="json")),
               "/migrations/m-1/events": Answer.events([moving.model_dump_json(),
                                                          done.model_dump_json()]),
               "/migrations/m-1/journal": Answer.json([])}
    with serving(answers) as (url, seen):
        validated = run_by_door(url, MIGRLPAR, ["-o", "v", "-m", "sys1", "-t", "sys2",
                                                "-p", "web1", "-d", "3"])
        migrated = run_by_door(url, MIGRLPAR, ["-o", "m", "-m", "sys1", "-t", "sys2",
                                               "-p", "web1", "-v"])
    assert (validated.returncode, validated.stdout, validated.stderr) == (0, (
        "Validation of web1 from sys1 to sys2: passed (active migration), 0 error(s), "
        "0 warning(s).\n"), "[]\n")
    assert (migrated.returncode, migrated.stderr) == (0, (
        "step 1/7 Profile to target\nstep 2/7 Storage on target\nstep 3/7 Mover services\n"
        "step 4/7 Migrate (a: pre-copy)  0 MiB sent, 0 MiB remaining, 0 MiB/s\n"
        "step 5/7 Resume on target\nstep 6/7 Storage off source\n"
        "step 7/7 Profile off source\n[]\n"))
    assert migrated.stdout == ("Migration m-1 of web1 (active) from sys1 to sys2: Migration "
                               "Complete in 2.5 s, 0.0 MiB sent.\n")
    assert [path for path, _ in seen.requests] == [
        "POST /validations", "POST /migrations", "/migrations/m-1/events",
        "/migrations/m-1/journal"]
    assert all(headers["Authorization"] == "Bearer olpm_t" for _, headers in seen.requests)
