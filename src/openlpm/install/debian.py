"""The Debian packages openlpm needs, by role, from ``debian-packages.txt`` (package
data, so an installed host has the list too), and which of them this host lacks."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

ROLES = frozenset({"hmc", "agent", "mover", "san", "lab", "test"})


@dataclass(frozen=True)
class DebianPackage:
    name: str
    roles: frozenset[str]
    why: str


def parse(text: str) -> tuple[DebianPackage, ...]:
    """Lines ``NAME ROLE[,ROLE...]  # why``; blank lines and ``#`` lines are skipped.

    Raises ValueError naming a line without roles or with a role that is none of ROLES.
    """
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        entry, _, why = line.partition("#")
        if not entry.strip():
            continue
        fields = entry.split()
        roles = frozenset(fields[1].split(",")) if len(fields) == 2 else frozenset()
        if not roles or not roles <= ROLES:
            raise ValueError(f"line {number} of the package list is not 'NAME ROLE,...': "
                             f"{line!r}")
        found.append(DebianPackage(fields[0], roles, why.strip()))
    return tuple(found)


def packages() -> tuple[DebianPackage, ...]:
    return parse(resources.files("openlpm.install").joinpath("debian-packages.txt")
                 .read_text(encoding="utf-8"))


def needed_by(roles: Iterable[str]) -> tuple[DebianPackage, ...]:
    wanted = set(roles)
    return tuple(package for package in packages() if package.roles & wanted)


def missing(names: Iterable[str]) -> list[str] | None:
    """Those of ``names`` dpkg does not have installed; None where there is no dpkg."""
    names = list(names)
    if shutil.which("dpkg-query") is None:
        return None
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n",
                          *names], capture_output=True, text=True, check=False).stdout
    installed = {line.split()[0] for line in out.splitlines()
                 if line.split()[1:] == ["installed"]}
    return [name for name in names if name not in installed]
