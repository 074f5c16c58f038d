"""What every HMC-compatible command shares: argument errors as HSCL errors, the
listing options and output (-F, --header), and running the command against the console."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from openlpm.cli.attributes import NO_RESULTS, AttributeSyntaxError, format_listing
from openlpm.cli.runner import run_command
from openlpm.clients.console import DOOR_ARGV, HmcClient, hmc_url
from openlpm.errors import RequestInvalid

Command = Callable[[argparse.Namespace, HmcClient], Coroutine[Any, Any, int | None]]


class HmcArgumentParser(argparse.ArgumentParser):
    """Argument errors leave as HSCL-style errors with exit status 2, like all others."""

    def error(self, message: str) -> Any:  # noqa: ANN401 - argparse's signature
        raise RequestInvalid(f"{self.prog}: {message}. See {self.prog} --help.",
                             code="HSCLF001")


def run_hmc_command(build: Callable[[], argparse.ArgumentParser], command: Command,
         argv: Sequence[str] | None) -> int:
    words = argv if argv is not None else door_words()
    through_door = argv is None and words is not None

    async def body() -> int | None:
        args = build().parse_args(words)
        if through_door:
            refuse_host_files(args)
        async with HmcClient(hmc_url()) as hmc:
            return await command(args, hmc)

    return run_command(body)


def door_words() -> list[str] | None:
    """The words the SSH door passed in the environment (``DOOR_ARGV``), else None (the
    command line's)."""
    passed = os.environ.pop(DOOR_ARGV, None)
    if passed is None:
        return None
    words = json.loads(passed)
    if not (isinstance(words, list) and all(isinstance(w, str) for w in words)):
        raise RequestInvalid(f"{DOOR_ARGV} is not a JSON list of words.", code="HSCLF001")
    return words


def refuse_host_files(args: argparse.Namespace) -> None:
    """Through the SSH door, no option naming a file (``migrlpar -f``, ``mkhmcusr -f``,
    ``chhmcusr -f``): the file would be the console host's, read as the console's own
    user (its database, its keys, /etc/shadow), not the client's.

    Raises RequestInvalid (HSCLF827).
    """
    if any(isinstance(value, Path) for value in vars(args).values()):
        raise RequestInvalid(
            "-f FILE is not taken through the console's SSH door: the file would be read "
            "on the console host, not on yours. Give its data with -i instead.",
            code="HSCLF827")


def listing(records: Sequence[Mapping[str, object]], args: argparse.Namespace) -> None:
    if not records:
        print(NO_RESULTS)
        return
    try:
        print(format_listing(records, args.F, args.header))
    except AttributeSyntaxError as exc:
        raise RequestInvalid(str(exc), code="HSCLF004") from exc


def listing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-F", metavar="ATTRIBUTES", nargs="?", const="",
                        help="print only these attributes' values, separated by the "
                        "delimiter used between their names; -F alone: every value")
    parser.add_argument("--header", action="store_true", help="with -F, print a header line")
