"""Evacuating a system for maintenance, then balancing the site again once it is back.

Evacuation: every partition that can move moves, the one that cannot is named and left
running, and the system takes nothing new until maintenance ends. Balance: the emptied
system takes partitions back, as the policy allows. Three systems; sys1 starts with six
partitions that can move and one with a host-local disk.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import Lab

# The pinned partition's disk is made under the temporary directory, which its agents
# allow (tmp_path_factory's files lie there).
LAB_SPEC = {"systems": 3, "cpus": 8, "allow_dirs": (tempfile.gettempdir(),)}
MOVABLE = [f"e{i}" for i in range(1, 7)]
PROFILE = ("name={name},profile_name=default,min_mem=96,desired_mem={mem},max_mem=256,"
           "min_procs=1,desired_procs=1,max_procs=1")


@pytest.fixture(scope="module")
def running(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The partitions of sys1, running; their boot ids by name."""
    disk = tmp_path_factory.mktemp("local") / "pinned.img"
    disk.write_bytes(b"\0" * 1024 * 1024)
    for number, name in enumerate(MOVABLE):
        lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i",
                PROFILE.format(name=name, mem=128 + 16 * number))
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i",
            PROFILE.format(name="pinned", mem=128) + f",disks={Path(disk)}")
    for name in [*MOVABLE, "pinned"]:
        lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", name)
    return {name: lab.wait_ticks("sys1", name, more_than=1, timeout=240)[-1][2]
            for name in [*MOVABLE, "pinned"]}


def test_a_dry_run_shows_the_plan_and_changes_nothing(lab: Lab,
                                                      running: dict[str, str]) -> None:
    result = lab.run("openlpm", "evacuate", "-m", "sys1", "--dry-run", "-F",
                     "name,target,verdict", check=False)

    plan = dict(line.split(",", 1) for line in result.stdout.splitlines())
    assert result.returncode == 6, "a partition that cannot move makes the plan fail"
    # Largest first, spread over both targets.
    assert list(plan)[:6] == list(reversed(MOVABLE))
    assert {plan[name].split(",")[0] for name in MOVABLE} == {"sys2", "sys3"}
    assert plan["pinned"].startswith("null,") or plan["pinned"].startswith(",")
    assert "HSCLF413" in plan["pinned"]
    assert lab.values("lssyscfg", "-r", "sys", "-m", "sys1", "-F", "maintenance") == ["0"]
    assert len(lab.values("lssyscfg", "-r", "lpar", "-m", "sys1")) == 7


def test_evacuation_moves_every_movable_partition_and_reports_the_one_left(
        lab: Lab, running: dict[str, str]) -> None:
    result = lab.run("openlpm", "evacuate", "-m", "sys1", "-F",
                     "name,target,result,reason", check=False)

    report = {line.split(",")[0]: line.split(",", 3)[1:] for line in
              result.stdout.splitlines()}
    assert result.returncode == 6, result.stdout + result.stderr
    assert all(report[name][1] == "moved" for name in MOVABLE), report
    assert report["pinned"][1] == "stayed" and "HSCLF413" in report["pinned"][2]
    placed = {name: report[name][0] for name in MOVABLE}
    assert set(placed.values()) == {"sys2", "sys3"}

    assert lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "name,state") == \
        ["pinned,Running"]
    for name, target in placed.items():
        assert lab.values("lssyscfg", "-r", "lpar", "-m", target, "-F", "state",
                          "--filter", f"lpar_names={name}") == ["Running"]
        ticks = lab.wait_ticks(target, name, more_than=3, received_on=target)
        lab.assert_kept_running(target, name, ticks, running[name])
    lab.wait_ticks("sys1", "pinned", more_than=len(lab.ticks("sys1", "pinned")) + 1)

    assert lab.values("lssyscfg", "-r", "sys", "-m", "sys1", "-F", "maintenance") == ["1"]
    refused = lab.run("migrlpar", "-o", "v", "-m", placed[MOVABLE[0]], "-t", "sys1", "-p",
                      MOVABLE[0], check=False)
    assert refused.returncode == 6 and "HSCLF402" in refused.stderr
    lab.run("openlpm", "maintenance", "-m", "sys1", "--off")


def test_balance_fills_the_emptied_system_within_the_policy(
        lab: Lab, running: dict[str, str], tmp_path: Path) -> None:
    lab.run("openlpm", "maintenance", "-m", "sys1", "--off")
    usage = {u["system"]: u for u in lab.api("/utilization?window=30")}
    assert all(p["cpu_cores"] > 0 for u in usage.values() for p in u["partitions"]), usage
    where = {name: system for system in ("sys2", "sys3") for name in
             lab.values("lssyscfg", "-r", "lpar", "-m", system, "-F", "name")}
    pinned_elsewhere = next(iter(where))
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[[pin]]\npartition = "{pinned_elsewhere}"\n'
                      f'system = "{where[pinned_elsewhere]}"\n')

    request = {"goal": "memory", "dry_run": True,
               "policy": {"pins": {pinned_elsewhere: where[pinned_elsewhere]}}}
    plan = lab.post("/balance", request)
    dry = lab.run("openlpm", "balance", "--goal", "memory", "--policy", str(policy),
                  "--dry-run", "-F", "name,source,target")
    planned = [line.split(",") for line in dry.stdout.splitlines()]
    assert planned == [[m["partition"], m["source"], m["target"]] for m in plan["moves"]]
    assert planned and all(target == "sys1" for _, _, target in planned), planned
    assert pinned_elsewhere not in {name for name, _, _ in planned}
    assert plan["spread_after"] < plan["spread_before"]
    assert lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "name") == ["pinned"]

    lab.run("openlpm", "balance", "--goal", "memory", "--policy", str(policy))

    on_sys1 = lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "name,state")
    assert sorted(on_sys1) == sorted([f"{n},Running" for n, _, _ in planned] +
                                     ["pinned,Running"])
    for name, _, _ in planned:
        ticks = lab.wait_ticks("sys1", name, more_than=3, received_on="sys1")
        lab.assert_one_boot("sys1", name, ticks, running[name])
    now = lab.post("/balance", request)
    assert now["spread_before"] == pytest.approx(plan["spread_after"])
