"""The one place where the CLI turns errors into messages and exit statuses."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from typing import Any

from openlpm.cli.findings import DEFAULT_DETAIL, finding_lines
from openlpm.errors import OpenLpmError


def run_command(command: Callable[[], Coroutine[Any, Any, int | None]]) -> int:
    """Run an async command; an OpenLpmError becomes ``CODE message`` and its exit status."""
    import asyncio  # the listing commands run without an event loop (run_reporting)

    return run_reporting(lambda: asyncio.run(command()))


def run_reporting(command: Callable[[], int | None]) -> int:
    """Run a command; an OpenLpmError becomes ``CODE message`` and its exit status."""
    try:
        return command() or 0
    except OpenLpmError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def report_error(exc: OpenLpmError, detail: int = DEFAULT_DETAIL,
                 nodetails: bool = False) -> int:
    """Print ``CODE message`` and the findings it carries; returns its exit status."""
    print(str(exc), file=sys.stderr)
    if exc.details.get("findings"):
        # Read as views, without pydantic: migrlpar -o m prints a refusal's findings.
        from openlpm.clients.console_views import FindingView, read_list

        findings = read_list(FindingView, exc.details["findings"], "findings")
        for line in finding_lines(findings, detail, nodetails):
            print(line, file=sys.stderr)
    return exc.exit_status
