"""What every HMC-compatible command shares before it reaches the console: argument
errors as HSCL errors, the ``-i`` attributes with their HSCL codes, the listing options
and output (-F, --header), and the words the SSH door passes. The standard library only,
so that the listing commands start quickly (``lssyscfg.py``)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openlpm.cli.attributes import NO_RESULTS, AttributeSyntaxError, format_listing
from openlpm.cli.attributes import parse_attributes as _parse_attributes
from openlpm.clients.console_address import DOOR_ARGV
from openlpm.errors import RequestInvalid


class HmcArgumentParser(argparse.ArgumentParser):
    """Argument errors leave as HSCL-style errors with exit status 2, like all others."""

    def error(self, message: str) -> Any:  # noqa: ANN401 - argparse's signature
        raise RequestInvalid(f"{self.prog}: {message}. See {self.prog} --help.",
                             code="HSCLF001")


def parse_attributes(text: str, allowed: set[str], what: str) -> dict[str, str]:
    try:
        attributes = _parse_attributes(text)
    except AttributeSyntaxError as exc:
        raise RequestInvalid(f"The {what} input is not valid: {exc}", code="HSCLF002") from exc
    unknown = sorted(set(attributes) - allowed)
    if unknown:
        raise RequestInvalid(
            f"Unknown attribute(s) for {what}: {'; '.join(_suggest(u, allowed) for u in unknown)}"
            f". Valid attributes: {', '.join(sorted(allowed))}.", code="HSCLF003")
    return attributes


def _suggest(name: str, allowed: set[str]) -> str:
    import difflib  # only for a misspelt attribute: 5 ms a listing need not pay

    close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
    return f"{name} (did you mean {close[0]}?)" if close else name


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
