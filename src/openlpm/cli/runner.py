"""The one place where the CLI turns errors into messages and exit statuses."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from openlpm.errors import OpenLpmError


def run_command(command: Callable[[], Coroutine[Any, Any, int | None]]) -> int:
    """Run an async command; an OpenLpmError becomes ``CODE message`` and its exit status."""
    try:
        return asyncio.run(command()) or 0
    except OpenLpmError as exc:
        print(str(exc), file=sys.stderr)
        for finding in exc.details.get("findings", []):
            print(finding_line(finding["severity"], finding["code"], finding["object"],
                               finding["message"]), file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def finding_line(severity: str, code: str, obj: str, message: str) -> str:
    return f"{code} {severity.capitalize()} [{obj}]: {message}"
