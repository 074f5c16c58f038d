"""``openlpm balance``: even out the load of a site with as few migrations as possible.

The console measures, plans and validates (``POST /balance``); this command reads the
policy file, shows each system's load before and after and the moves, and unless
``--dry-run`` follows the migrations the console started.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from openlpm.cli.attributes import AttributeSyntaxError, format_listing
from openlpm.cli.following import follow_migrations
from openlpm.clients.console import HmcClient
from openlpm.clients.console_address import hmc_url
from openlpm.errors import MigrationFailed, RequestInvalid
from openlpm.model import BalanceGoal, BalancePlan, BalancePolicy, BalanceRequest, MigrationState


def read_policy(path: Path) -> BalancePolicy:
    """The policy file: ``[[pin]]`` tables (partition, system) and ``[[apart]]`` tables
    (partitions, a list), in TOML."""
    try:
        data = tomllib.loads(path.read_text())
        unknown = set(data) - {"pin", "apart"}
        if unknown:
            raise ValueError(f"unknown table(s) {', '.join(sorted(unknown))}; "
                             f"a policy has [[pin]] and [[apart]]")
        return BalancePolicy(pins={p["partition"]: p["system"] for p in data.get("pin", [])},
                             apart=tuple(tuple(a["partitions"])
                                         for a in data.get("apart", [])))
    except OSError as exc:
        raise RequestInvalid(f"The policy file {path} cannot be read: {exc.strerror}.",
                             code="HSCLF020") from exc
    except (tomllib.TOMLDecodeError, ValueError, KeyError, TypeError,
            ValidationError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise RequestInvalid(f"The policy file {path} is not valid: {detail}. Write "
                             f"[[pin]] partition = \"P\", system = \"S\" and [[apart]] "
                             f"partitions = [\"A\", \"B\"].", code="HSCLF020") from exc


async def balance(args: argparse.Namespace) -> int:
    policy = read_policy(args.policy) if args.policy else BalancePolicy()
    request = BalanceRequest(goal=BalanceGoal(args.goal), max_moves=args.max_moves,
                             window_s=args.window, dry_run=args.dry_run, policy=policy)
    out = Console()
    async with HmcClient(hmc_url()) as hmc:
        plan = await hmc.balance(request)
        if args.F is not None:
            _listing(plan, args)
        else:
            out.print(_loads_table(plan))
            out.print(_moves_table(plan))
            for refusal in plan.refused:
                out.print(f"validation refused: {refusal}", highlight=False)
        started = [(m.partition, m.target, m.migration_id) for m in plan.moves
                   if m.migration_id]
        if args.dry_run or not started:
            return 0
        began = time.monotonic()
        finals = await follow_migrations(hmc, started, "Balancing",
                                         Console(stderr=True))
    failed = [r for r in finals.values() if r.state != MigrationState.COMPLETE]
    unstarted = [m for m in plan.moves if m.reason]
    if args.F is None:
        out.print(f"Balanced in {time.monotonic() - began:.1f} s: "
                  f"{len(finals) - len(failed)} moved, {len(failed) + len(unstarted)} "
                  f"failed; spread {_pct(plan.spread_before)} → "
                  f"{_pct(plan.spread_after)}.", highlight=False)
    for record in failed:
        print(f"{record.partition}: {record.error_code} {record.error_message}")
    for move in unstarted:
        print(f"{move.partition}: {move.reason}")
    return MigrationFailed.exit_status if failed or unstarted else 0


def _pct(load: float) -> str:
    return f"{load * 100:.1f}%"


def _loads_table(plan: BalancePlan) -> Table:
    table = Table(title=f"Load by {plan.goal.value} over {plan.window_s:.0f} s: spread "
                        f"{_pct(plan.spread_before)} → {_pct(plan.spread_after)}")
    for column in ("system", "before", "after"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for system in plan.systems:
        table.add_row(system.system, _pct(system.before), _pct(system.after))
    return table


def _moves_table(plan: BalancePlan) -> Table:
    table = Table(title=f"{len(plan.moves)} move(s)")
    for column in ("partition", "from", "to", "validation", "migration"):
        table.add_column(column, overflow="fold")
    for move in plan.moves:
        warnings = ",".join(f.code for f in move.warnings)
        table.add_row(move.partition, move.source, move.target,
                      f"passes with warnings {warnings}" if warnings else "passes",
                      move.migration_id or move.reason or "-")
    return table


def _listing(plan: BalancePlan, args: argparse.Namespace) -> None:
    rows = [{"name": m.partition, "source": m.source, "target": m.target,
             "migration_id": m.migration_id, "reason": m.reason or None}
            for m in plan.moves]
    if not rows:
        print("No results were found.")
        return
    try:
        print(format_listing(rows, args.F, args.header))
    except AttributeSyntaxError as exc:
        raise RequestInvalid(str(exc), code="HSCLF004") from exc
