"""``openlpm install-units``: each service's systemd unit, rendered from its template
with this interpreter, and a commented sample of its configuration file.

Errors: HSCLF704 (``OpenLpmError``) a unit or configuration file cannot be written;
HSCLF708 (``RequestInvalid``) an interpreter path a unit's command line cannot hold.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from openlpm.errors import OpenLpmError, RequestInvalid
from openlpm.install import debian
from openlpm.private import write_private, write_replacing

ROLES = ("hmc", "agent", "mover", "san")
UNIT_DIR = Path("etc/systemd/system")
CONFIG_DIR = Path("etc/openlpm")


def unit_name(role: str) -> str:
    return f"openlpm-{role}.service"


def unit_text(role: str, python: str = sys.executable) -> str:
    """The unit of ``role``, started by ``python`` (the interpreter of the environment
    openlpm is installed in, so the unit runs this installation).

    Raises RequestInvalid (HSCLF708) for a path the command line cannot hold.
    """
    template = resources.files("openlpm.install").joinpath(unit_name(role))
    return template.read_text(encoding="utf-8").replace("@PYTHON@", _command_word(python))


def _command_word(path: str) -> str:
    """``path`` as one word of a unit's ExecStart: quoted (it may hold spaces), '\\'
    and '"' escaped, '%' (which starts a specifier) doubled."""
    if any(ord(c) < 0x20 or c in "\x7f$" for c in path):
        # A newline would end ExecStart and start a directive of its own; systemd
        # substitutes '$' in the arguments but not in the program's path.
        raise RequestInvalid(f"The interpreter path {path!r} holds a control character "
                             f"or '$', which a systemd unit's command line cannot hold: "
                             f"install openlpm in an environment whose path has none.",
                             code="HSCLF708")
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


@dataclass
class Installed:
    """What install wrote and kept, and what the host still lacks."""

    units: list[Path] = field(default_factory=list)
    configs: list[Path] = field(default_factory=list)
    kept_configs: list[Path] = field(default_factory=list)
    # Debian packages of the roles that are not installed; None where there is no dpkg.
    missing: list[str] | None = None
    # systemctl daemon-reload: None when not run, else whether it succeeded.
    reloaded: bool | None = None


def install(roles: list[str], root: Path, samples: Mapping[str, str], *,
            reload: bool = True, python: str = sys.executable) -> Installed:
    """Write each role's unit (replacing an older one) and, unless the role has one, its
    sample configuration (0600) under ``root``; reload systemd when ``root`` is this
    host's and systemd runs it.

    Raises OpenLpmError (HSCLF704) when a file cannot be written, RequestInvalid
    (HSCLF708) for an interpreter path a unit cannot hold.
    """
    done = Installed()
    for role in roles:
        unit = root / UNIT_DIR / unit_name(role)
        _write(unit, unit_text(role, python).encode(), _write_public)
        done.units.append(unit)
        config = root / CONFIG_DIR / f"{role}.toml"
        if os.path.lexists(config):  # a link, even a dangling one, is kept
            done.kept_configs.append(config)
        else:
            _write(config, samples[role].encode(), write_private)
            done.configs.append(config)
    done.missing = debian.missing(p.name for p in debian.needed_by(roles))
    if reload and root.resolve() == Path("/") and systemd_runs():
        done.reloaded = subprocess.run(["systemctl", "daemon-reload"],
                                       check=False).returncode == 0
    return done


def systemd_runs() -> bool:
    """Whether systemd is this host's init (its runtime directory exists, as
    sd_booted() checks)."""
    return Path("/run/systemd/system").exists() and shutil.which("systemctl") is not None


def _write(path: Path, data: bytes, write: Callable[[Path, bytes], None]) -> None:
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        write(path, data)
    except OSError as exc:
        raise OpenLpmError(f"Cannot write {path}: {exc}. Run as root, or give another "
                           f"--root.", code="HSCLF704") from None


def _write_public(path: Path, data: bytes) -> None:
    """A unit file: systemd and every user may read it, only its owner changes it."""
    write_replacing(path, data, 0o644)


def report(done: Installed, roles: list[str]) -> list[str]:
    """What was done and what to do next, a line each."""
    lines = [f"wrote {unit}" for unit in done.units]
    lines += [f"wrote {config} (a sample: every option commented out)"
              for config in done.configs]
    lines += [f"kept {config} (it exists)" for config in done.kept_configs]
    if done.reloaded is not None:
        lines.append("ran systemctl daemon-reload" if done.reloaded else
                     "systemctl daemon-reload failed: run it yourself")
    if done.missing is None:
        lines.append("this host has no dpkg: see debian-packages.txt of openlpm for the "
                     "packages each role needs")
    elif done.missing:
        lines.append(f"missing Debian packages: {' '.join(done.missing)} "
                     f"(apt-get install {' '.join(done.missing)})")
    else:
        lines.append("every Debian package these roles need is installed")
    configs = " ".join(f"/etc/openlpm/{role}.toml" for role in roles)
    units = " ".join(f"openlpm-{role}" for role in roles)
    lines.append(f"next: fill in {configs}, then systemctl enable --now {units}")
    return lines

