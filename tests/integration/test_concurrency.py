"""Many migrations at once: up to the systems' limit, the rest queued, every workload intact.

The lab's systems take part in at most 4 active migrations at once; 8 partitions move
from sys1 to sys2 together, then back.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.integration.conftest import Lab

LAB_SPEC = {"max_active_migrations": 4, "cpus": 8}
LIMIT = 4
PARTITIONS = [f"c{i}" for i in range(1, 9)]
PROFILE = ("name={name},profile_name=default,min_mem=96,desired_mem=160,max_mem=256,"
           "min_procs=1,desired_procs=1,max_procs=1")
MOVE_TIMEOUT_S = 300.0


def migrate_all(lab: Lab, source: str, target: str) -> tuple[int, int]:
    """Submit every migration at the same moment and wait for all of them; returns the
    most that ran at once (from their journals) and how many waited for a slot."""
    with ThreadPoolExecutor(len(PARTITIONS)) as pool:
        submitted = list(pool.map(lambda name: lab.post("/migrations", {
            "source": source, "target": target, "partition": name}), PARTITIONS))
    deadline = time.monotonic() + MOVE_TIMEOUT_S
    while not all((record := lab.api(f"/migrations/{m['id']}"))["state"] ==
                  "Migration Complete" for m in submitted):
        assert record["state"] not in ("Migration Failed", "Migration Stopped"), record
        assert time.monotonic() < deadline, "the migrations did not all complete"
        time.sleep(0.5)
    spans, queued = [], 0
    for migration in submitted:
        journal = lab.api(f"/migrations/{migration['id']}/journal")
        began = next(e["at"] for e in journal if e["step"] == 1 and e["phase"] == "begin")
        spans.append((began, lab.api(f"/migrations/{migration['id']}")["ended"]))
        queued += any(e["phase"] == "queued" for e in journal)
    return max(sum(b <= at < e for b, e in spans) for at, _ in spans), queued


def test_eight_partitions_move_at_once_and_back_within_the_limit(lab: Lab) -> None:
    for name in PARTITIONS:
        lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", PROFILE.format(name=name))
        lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", name)
    boots = {name: lab.wait_ticks("sys1", name, more_than=1, timeout=240)[-1][2]
             for name in PARTITIONS}

    for source, target in (("sys1", "sys2"), ("sys2", "sys1")):
        most, queued = migrate_all(lab, source, target)
        assert most <= LIMIT, f"{most} migrations ran at once; the limit is {LIMIT}"
        assert queued, f"no migration waited for a slot (at most {most} ran at once)"
        listed = lab.values("lssyscfg", "-r", "lpar", "-m", target, "-F", "name,state")
        assert sorted(listed) == sorted(f"{name},Running" for name in PARTITIONS)
        assert lab.values("lssyscfg", "-r", "lpar", "-m", source) == \
            ["No results were found."]

    for name, boot in boots.items():
        ticks = lab.wait_ticks("sys1", name, more_than=3, received_on="sys1")
        lab.assert_kept_running("sys1", name, ticks, boot)
