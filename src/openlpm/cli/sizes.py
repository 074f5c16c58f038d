"""Sizes written as qemu-img takes them (``512M``, ``20G``, ``1.5T``) for options given
in whole MB."""

from __future__ import annotations

import argparse
import re
from decimal import Decimal

MB = 1 << 20
MAX_MB = 1 << 20  # what LunCreate.size_mb allows: 1 TiB
# As qemu-img: bytes without a suffix, powers of 1024 with one, case not minded.
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([bkmgtpe]?)", re.IGNORECASE)
_UNITS = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def size_mb(text: str) -> int:
    """``text``, a size such as ``512M`` or ``20G``, in MB.

    Raises argparse.ArgumentTypeError for anything else, a size that is not whole MB, or
    one over MAX_MB.
    """
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size: give a number and a unit, e.g. 512M or 20G")
    size = Decimal(match[1]) * 1024 ** _UNITS[match[2].lower()]
    if size % MB:
        raise argparse.ArgumentTypeError(
            f"{text} is not whole MB (a number without a unit is bytes, as in qemu-img): "
            f"give e.g. {match[1]}M")
    return _bounded(int(size // MB), text)


def mb(text: str) -> int:
    """``text``, a whole number of MB up to MAX_MB."""
    try:
        return _bounded(int(text), text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of MB") from None


def _bounded(size_mb: int, text: str) -> int:
    if size_mb < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a size: sizes are 0 or more")
    if size_mb > MAX_MB:
        raise argparse.ArgumentTypeError(f"{text} is over the largest LUN, {MAX_MB} MB (1T)")
    return size_mb
