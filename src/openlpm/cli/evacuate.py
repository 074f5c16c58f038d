"""``openlpm evacuate``: empty a managed system for maintenance, with progress and a report.

The console plans and starts the migrations (``POST /systems/S/evacuation``); this
command shows the plan, follows every migration it started, and ends with a report.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from openlpm.cli.attributes import AttributeSyntaxError, format_listing
from openlpm.cli.following import follow_migrations
from openlpm.clients.console import HmcClient
from openlpm.clients.console_address import hmc_url
from openlpm.errors import MigrationFailed, RequestInvalid, ValidationFailed
from openlpm.model import EvacuationPlan, MigrationRecord, MigrationState, Placement


async def evacuate(args: argparse.Namespace) -> int:
    targets = [t for t in (args.to or "").split(",") if t]
    out = Console()
    async with HmcClient(hmc_url()) as hmc:
        plan = await hmc.evacuate(args.system, targets, args.dry_run)
        if args.dry_run:
            _print(out, args, [plan_row(p) for p in plan.placements], _plan_table(plan))
            return 0 if all(p.target for p in plan.placements) else \
                ValidationFailed.exit_status
        if args.F is None:
            out.print(_plan_table(plan))
        started = time.monotonic()
        finals = await follow_migrations(
            hmc, [(p.partition, p.target, p.migration_id) for p in plan.placements
                  if p.target and p.migration_id], f"Evacuating {plan.system}",
            Console(stderr=True))
    took = time.monotonic() - started
    rows = [report_row(p, finals.get(p.migration_id or "")) for p in plan.placements]
    _print(out, args, rows, _report_table(plan, rows, took))
    moved = sum(r["result"] == "moved" for r in rows)
    failed = sum(r["result"] == "failed" for r in rows)
    if args.F is None:
        out.print(f"Evacuation of {plan.system}: {moved} moved, {failed} failed, "
                  f"{len(rows) - moved - failed} stayed, in {took:.1f} s. {plan.system} "
                  f"stays in maintenance: end it with 'openlpm maintenance -m "
                  f"{plan.system} --off'.", highlight=False)
    if failed:
        return MigrationFailed.exit_status
    return ValidationFailed.exit_status if moved < len(rows) else 0


def plan_row(placement: Placement) -> dict[str, object]:
    warnings = ",".join(f.code for f in placement.warnings)
    if placement.target is None:
        verdict = f"stays: {placement.reason}"
    else:
        verdict = f"passes with warnings {warnings}" if warnings else "passes"
    return {"name": placement.partition, "kind": placement.kind.value if placement.kind
            else "none", "mem": placement.memory_mb, "procs": placement.procs,
            "target": placement.target, "verdict": verdict}


def report_row(placement: Placement, record: MigrationRecord | None) -> dict[str, object]:
    if record is None:
        return {"name": placement.partition, "target": placement.target, "result": "stayed",
                "reason": placement.reason, "time_s": None, "downtime_ms": None}
    moved = record.state == MigrationState.COMPLETE
    took = (record.ended or record.started) - record.started
    return {"name": placement.partition, "target": placement.target,
            "result": "moved" if moved else "failed",
            "reason": None if moved else f"{record.error_code} {record.error_message}",
            "time_s": round(took, 1), "downtime_ms": record.downtime_ms}


def _plan_table(plan: EvacuationPlan) -> Table:
    table = Table(title=f"Evacuation plan of {plan.system} (targets: "
                        f"{', '.join(plan.targets) or 'none'})")
    for column in ("#", "partition", "kind", "MB", "procs", "to", "validation"):
        table.add_column(column, overflow="fold")
    for number, placement in enumerate(plan.placements, start=1):
        row = plan_row(placement)
        table.add_row(str(number), placement.partition, str(row["kind"]),
                      str(placement.memory_mb), str(placement.procs),
                      placement.target or "-", str(row["verdict"]))
    return table


def _report_table(plan: EvacuationPlan, rows: list[dict[str, object]], took: float) -> Table:
    table = Table(title=f"Evacuation of {plan.system} ({took:.1f} s)")
    for column in ("partition", "to", "result", "time s", "downtime ms", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(("" if row[key] is None else str(row[key])) for key in
                        ("name", "target", "result", "time_s", "downtime_ms", "reason")))
    return table


def _print(out: Console, args: argparse.Namespace, rows: list[dict[str, object]],
           table: Table) -> None:
    if args.F is None:
        out.print(table)
        return
    try:
        print(format_listing(rows, args.F, args.header))
    except AttributeSyntaxError as exc:
        raise RequestInvalid(str(exc), code="HSCLF004") from exc
