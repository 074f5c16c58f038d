"""lssyscfg starts without httpx, asyncio, pydantic or rich (issue 21: a listing within
150 ms of process start; bench/cli.py measures it): a whole listing, run as its console
script runs it in a process of its own, against a console in this test, imports none of
them and prints the HMC's lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from openlpm.model import Partition, PartitionProfile, PartitionState, PartitionSummary
from tests.unit.console_http import Answer, serving

HEAVY = ("httpx", "httpcore", "anyio", "asyncio", "pydantic", "pydantic_core", "rich",
         "openlpm.model", "tomllib", "importlib.metadata")
LISTING = f"""
import sys
from openlpm.cli.lssyscfg import lssyscfg
status = lssyscfg()
print(sorted(m for m in sys.modules if m in {HEAVY!r} or m.split(".")[0] in {HEAVY!r}),
      file=sys.stderr)
sys.exit(status)
"""


def test_a_listing_imports_none_of_the_libraries_that_cost_its_start_up() -> None:
    profile = PartitionProfile(name="web1", lpar_id=1, min_mem=256, desired_mem=512,
                               max_mem=512, min_procs=1, desired_procs=1, max_procs=1)
    partition = PartitionSummary(system="sys1", partition=Partition(
        profile=profile, state=PartitionState.RUNNING))
    answers = {"/systems/sys1/partitions": Answer.json([partition.model_dump(mode="json")])}
    with serving(answers) as (url, seen):
        # As the SSH door runs it: the words in OPENLPM_ARGV, the console and token given.
        env = {**os.environ, "OPENLPM_HMC": url, "OPENLPM_TOKEN": "olpm_t",
               "OPENLPM_ARGV": json.dumps(["-r", "lpar", "-m", "sys1", "-F", "name,state"])}
        done = subprocess.run([sys.executable, "-c", LISTING], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, "web1,Running\n"), done.stderr
    assert done.stderr == "[]\n"
    assert seen.requests[0][1]["Authorization"] == "Bearer olpm_t"
