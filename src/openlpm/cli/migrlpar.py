"""migrlpar: validate, migrate, stop or recover a partition's migration.

Scripts loop over ``-o v`` and ``-o m`` (``for p in ...; do migrlpar -o m ...; done``),
and the command's start-up comes before the migration's first step, so those run on the
standard library: the request body from ``migration_input.py`` (pydantic only for a
value its quick checks doubt), ``POST /validations`` or ``/migrations`` and the
migration's events by ``ConsoleReader``, the answers read into ``console_views.py``'s
views, the lines of ``findings.py`` and ``steps.py`` (rich only to draw on a terminal).
It prints what ``commands.py``'s path prints, byte for byte
(``tests/unit/test_migrlpar_quick.py``), which still runs ``-o s``, ``r`` and ``set``,
and everything in an environment that names an HTTP proxy (as httpx, through it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from openlpm.cli.attributes import NO_RESULTS
from openlpm.cli.findings import finding_lines, summary_lines
from openlpm.cli.hmc_syntax import door_words, refuse_host_files
from openlpm.cli.migration_input import migration_fields, migrlpar_parser, request_body
from openlpm.cli.runner import report_error, run_reporting
from openlpm.cli.steps import (
    PlainLines,
    StepLines,
    draws_on_terminal,
    journal_lines,
    pass_lines,
    summary,
)
from openlpm.clients.console_address import hmc_url
from openlpm.clients.console_reader import ConsoleReader, goes_through_proxy
from openlpm.clients.console_views import MigrationRecordView
from openlpm.errors import MigrationFailed, RequestInvalid, ValidationFailed
from openlpm.states import MigrationState


def migrlpar(argv: Sequence[str] | None = None) -> int:
    """As ``hmc_command.run_hmc_command``; ``-o v`` and ``m`` without an event loop."""
    words = argv if argv is not None else door_words()
    through_door = argv is None and words is not None

    def body() -> int | None:
        args = migrlpar_parser().parse_args(words)
        if through_door:
            refuse_host_files(args)
        url = hmc_url()
        if args.operation not in ("v", "m") or goes_through_proxy(url):
            from openlpm.cli.commands import _migrlpar
            from openlpm.cli.hmc_command import run_parsed

            return run_parsed(_migrlpar, args)
        with ConsoleReader(url) as hmc:
            return _quick(args, hmc)

    return run_reporting(body)


def _quick(args: argparse.Namespace, hmc: ConsoleReader) -> int | None:
    """``commands._migrlpar`` for -o v and m."""
    if args.partition is None and args.lpar_id is None and not args.all:
        raise RequestInvalid(f"migrlpar -o {args.operation} needs the partition: -p NAME "
                             f"or --id ID or --all.", code="HSCLF019")
    movable = [s.partition.name for s in hmc.mobile_partitions(args.source)] \
        if args.all else []
    requests = [request_body(fields) for fields in migration_fields(args, movable)]
    if not requests:
        print(NO_RESULTS)
        return None
    statuses = []
    for request in requests:
        if args.operation == "v":
            statuses.append(_validate(request, hmc, args))
        else:
            statuses.append(_migrate(request, hmc, args))
    return max(statuses)


def _validate(request: dict[str, Any], hmc: ConsoleReader, args: argparse.Namespace) -> int:
    report = hmc.validate(request)
    detail = max(args.detail, 3) if args.verbose else args.detail
    for line in finding_lines(report.findings, detail, args.nodetails):
        print(line, file=sys.stderr)
    for line in summary_lines(report, detail):
        print(line)
    return 0 if report.passed else ValidationFailed.exit_status


def _migrate(request: dict[str, Any], hmc: ConsoleReader, args: argparse.Namespace) -> int:
    """Migrate one partition; a refusal or failure is printed and gives its exit status,
    so that the next partition of the command still gets its turn."""
    try:
        return _migrate_one(request, hmc, args)
    except (ValidationFailed, MigrationFailed) as exc:
        return report_error(exc, args.detail, args.nodetails)


def _migrate_one(request: dict[str, Any], hmc: ConsoleReader,
                 args: argparse.Namespace) -> int:
    record = hmc.migrate(request)
    for line in finding_lines(record.warnings, args.detail, args.nodetails):
        print(line, file=sys.stderr)
    if args.no_wait:
        print(f"migration {record.id} of {record.partition} started")
        return 0
    final = _show_progress(hmc, record.id)
    if args.verbose or final.state != MigrationState.COMPLETE:
        print(summary(final))
    if args.verbose:
        for line in [*journal_lines(hmc.journal(final.id)), *pass_lines(final.rounds)]:
            print(line)
    if final.state != MigrationState.COMPLETE:
        raise MigrationFailed(final.error_message or "The migration did not complete.",
                              code=final.error_code or "HSCLF109")
    return 0


def _show_progress(hmc: ConsoleReader, migration_id: str) -> MigrationRecordView:
    """``progress.show_progress``: rich's bar on a terminal, else its step lines."""
    if draws_on_terminal():
        from openlpm.cli.progress import draw_progress

        return draw_progress(hmc.follow(migration_id))
    lines = StepLines(PlainLines())
    last: MigrationRecordView | None = None
    for record in hmc.follow(migration_id):
        lines.show(record)
        last = record
    assert last is not None  # as show_progress: the console sends the record at once
    return last
