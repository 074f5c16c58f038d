"""Balance planner benchmark: how long planning takes on large synthetic sites, and how
good its plans are against an exhaustive search on the same site.

The planner looks, each round, at the 4 most and 4 least loaded systems; the baseline
(exhaustive) looks at every system as a source and as a target. Both run on the same
synthetic sites (the generator of tests/unit/test_balance_planner.py: systems of mixed
sizes, some crowded, some quiet, partitions of mixed sizes), goal cpu. Reported: planning
time (median of the repeats), moves, spread before/after, and the ratios planner /
exhaustive of time and of the spread removed. The target (issue 9) is under 1 s for
1000 systems x 10 partitions. No lab needed.

Usage: python bench/balance.py [--repeats N] [--max-moves M] [--out F]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.test_balance_planner import synthetic_site  # noqa: E402

from openlpm.hmc.placement.balance_plan import plan_moves  # noqa: E402
from openlpm.model import BalanceGoal  # noqa: E402

SITES = [(100, 10), (300, 10), (1000, 10)]
EXHAUSTIVE_UP_TO = 100  # systems; at 300 the baseline already takes over a minute
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "balance.json"


def timed(systems: int, per_system: int, max_moves: int, candidates: int,
          repeats: int) -> dict[str, Any]:
    hosts, guests = synthetic_site(systems, per_system, seed=systems)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        plan = plan_moves(hosts, guests, BalanceGoal.CPU, max_moves, candidates=candidates)
        times.append(time.perf_counter() - began)
    return {"systems": systems, "partitions": len(guests), "plan_s": statistics.median(times),
            "moves": len(plan.moves), "spread_before": plan.spread_before,
            "spread_after": plan.spread_after}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-moves", type=int, default=20)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rows = []
    for systems, per_system in SITES:
        planner = timed(systems, per_system, args.max_moves, 4, args.repeats)
        exhaustive = (timed(systems, per_system, args.max_moves, systems, 1)
                      if systems <= EXHAUSTIVE_UP_TO else None)
        rows.append({"planner": planner, "exhaustive": exhaustive})
    big = rows[-1]["planner"]
    summary = {
        "bench": "balance", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {"python": platform.python_version(), "machine": platform.machine()},
        "max_moves": args.max_moves, "repeats": args.repeats, "sites": rows,
        "plan_s_1000x10": big["plan_s"], "target_met": big["plan_s"] < 1.0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    show(summary)
    return 0


def removed(result: dict[str, Any]) -> float:
    return float(result["spread_before"] - result["spread_after"])


def show(summary: dict[str, Any]) -> None:
    table = Table(title=f"Balance planner, goal cpu, up to {summary['max_moves']} moves "
                        f"(median of {summary['repeats']})")
    for column in ("systems", "partitions", "plan ms", "moves", "spread before",
                   "spread after", "exhaustive ms", "time vs exhaustive",
                   "spread removed vs exhaustive"):
        table.add_column(column, justify="right")
    for row in summary["sites"]:
        p, e = row["planner"], row["exhaustive"]
        table.add_row(str(p["systems"]), str(p["partitions"]), f"{p['plan_s'] * 1000:.1f}",
                      str(p["moves"]), f"{p['spread_before'] * 100:.2f}%",
                      f"{p['spread_after'] * 100:.2f}%",
                      f"{e['plan_s'] * 1000:.0f}" if e else "-",
                      f"{p['plan_s'] / e['plan_s']:.3f}x" if e else "-",
                      f"{removed(p) / removed(e):.2f}x" if e and removed(e) else "-")
    Console(width=150).print(table)
    print(f"1000 systems x 10 partitions planned in {summary['plan_s_1000x10'] * 1000:.0f} ms "
          f"(target < 1000 ms: {'met' if summary['target_met'] else 'missed'})")


if __name__ == "__main__":
    raise SystemExit(main())
