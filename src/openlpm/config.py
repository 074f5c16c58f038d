"""A service's options from a TOML file: ``/etc/openlpm/ROLE.toml``, or ``--config FILE``.

Each key is a long option of the service's ``serve`` command without its leading dashes
(``state-dir = "/var/lib/openlpm/agent"``). The values become the parser's defaults, so
an option given on the command line still wins, and an option the file gives is no
longer required on the command line. Values pass through the option's own type and
choices, as if typed after the flag: ``vlans = "10,20"`` or ``vlans = [10, 20]`` (a list
for an option taking one value is its comma-separated text), ``insecure = true`` for a
flag, ``allow-dir = ["/srv/a", "/srv/b"]`` for a repeatable option.

Errors (each ``RequestInvalid``, naming the file):

- HSCLF701  the file cannot be read, or is not TOML (with its line)
- HSCLF702  a key is no option of the service (with the valid keys)
- HSCLF703  a value the option does not take
"""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import textwrap
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openlpm.errors import RequestInvalid

CONFIG_DIR = Path("/etc/openlpm")
# Options that are no setting of the service: its help, and the file's own name.
NOT_KEYS = {"help", "config"}


def default_path(role: str) -> Path:
    return CONFIG_DIR / f"{role}.toml"


def add_config_option(parser: argparse.ArgumentParser, role: str) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help=f"a TOML file of these options, each key an option without "
                             f"its '--' (state-dir = \"/var/lib/openlpm\"); options on the "
                             f"command line override it (default: {default_path(role)} when "
                             f"it exists)")


def chosen_file(argv: Sequence[str], role: str) -> Path | None:
    """The file ``argv`` (a serve command's arguments) names with --config, else the
    role's default file when it exists."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--config", type=Path)
    named = early.parse_known_args(list(argv))[0].config
    if named is not None:
        return Path(named)
    default = default_path(role)
    return default if default.exists() else None


def apply(parser: argparse.ArgumentParser, path: Path) -> None:
    """Make the options ``path`` sets ``parser``'s defaults.

    Raises RequestInvalid (HSCLF701-703) naming the file and the key at fault.
    """
    options = keyed_options(parser)
    for key, value in load(path).items():
        action = options.get(key)
        if action is None:
            raise RequestInvalid(
                f"{path} sets {key!r}, which is no option of '{parser.prog}'. Valid keys: "
                f"{', '.join(sorted(options))}.", code="HSCLF702")
        parser.set_defaults(**{action.dest: _value(action, value, path, key)})
        action.required = False


def keyed_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Each option a file may set, by its key (its first long option without '--')."""
    keyed = {}
    for action in parser._actions:
        long = [flag for flag in action.option_strings if flag.startswith("--")]
        if long and long[0][2:] not in NOT_KEYS and not isinstance(
                action, argparse._VersionAction):
            keyed[long[0][2:]] = action
    return keyed


def load(path: Path) -> dict[str, Any]:
    """The file's keys and values.

    Raises RequestInvalid: HSCLF701 (unreadable, not TOML), HSCLF705 (a file that
    someone but its owner, root or the service's own user, may change).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RequestInvalid(f"Cannot read the configuration file {path}: {exc}. Give an "
                             f"existing file with --config.", code="HSCLF701") from None
    _check_owner(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RequestInvalid(f"The configuration file {path} is not TOML: {exc}. Write "
                             f"each option as key = value.", code="HSCLF701") from None


def _check_owner(path: Path) -> None:
    """Refuse a file, or its directory, that a user other than root or the service's
    own may change: the services run as root, and a file says what they listen on,
    whether they check callers, which files partitions may open (as sshd refuses its
    keys without StrictModes)."""
    for checked in (path.resolve(), path.resolve().parent):
        info = checked.stat()
        if not stat.S_ISREG(info.st_mode) and checked != path.resolve().parent:
            continue  # /dev/null, to read no file
        sticky = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky
        if info.st_uid not in (0, os.geteuid()) or writable:
            raise RequestInvalid(
                f"The configuration file {path} is not safe: {checked} may be changed by "
                f"users other than root (owner uid {info.st_uid}, mode "
                f"{stat.S_IMODE(info.st_mode):o}). Make it root's and chmod go-w it.",
                code="HSCLF705")


def _value(action: argparse.Action, value: Any, path: Path, key: str) -> Any:
    if action.nargs == 0:
        if not isinstance(value, bool):
            raise _bad(path, key, value, "true or false")
        if isinstance(action, argparse.BooleanOptionalAction):
            return value
        return action.const if value else action.default
    if isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+"):
        items = value if isinstance(value, list) else [value]
        return [_scalar(action, item, path, key) for item in items]
    if isinstance(value, list):
        return _scalar(action, ",".join(_text(item, path, key) for item in value), path, key)
    return _scalar(action, value, path, key)


def _scalar(action: argparse.Action, value: Any, path: Path, key: str) -> Any:
    text = _text(value, path, key)
    convert = action.type if callable(action.type) else str
    try:
        converted = convert(text)
    except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
        raise _bad(path, key, value, str(exc) or "a value of its type") from None
    if action.choices is not None and converted not in action.choices:
        raise _bad(path, key, value, f"one of {_choices(action.choices)}")
    return converted


def _text(value: Any, path: Path, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(path, key, value, "a string or a number")
    return str(value)


def _choices(choices: Any) -> str:
    if isinstance(choices, range):
        return f"{choices.start} to {choices.stop - 1}"
    return ", ".join(str(choice) for choice in choices)


def _bad(path: Path, key: str, value: Any, wanted: str) -> RequestInvalid:
    return RequestInvalid(f"{path} gives {key} = {value!r}; it takes {wanted}.",
                          code="HSCLF703")


def sample(parser: argparse.ArgumentParser, role: str) -> str:
    """A configuration file setting nothing: every option commented out, each with its
    help, its default or an empty value to fill in."""
    lines = [f"# {default_path(role)}: the options of 'openlpm {role} serve'. Each key is",
             "# a long option without its '--'; options on the command line override it.",
             "# Uncomment and fill in at least the options marked (required).",
             "# This file may hold secrets: keep it the owner's only (chmod 0600).", ""]
    for key, action in keyed_options(parser).items():
        text = action.help or ""
        if action.required:
            text += " (required)"
        if action.choices is not None:
            text += f" [{_choices(action.choices)}]"
        lines += textwrap.wrap(text.strip(), 86, initial_indent="# ",
                               subsequent_indent="# ")
        lines += [f"#{key} = {_example(action)}", ""]
    return "\n".join(lines)


def render(options: Mapping[str, str | int | bool | Sequence[str]]) -> str:
    """A configuration file setting ``options`` (keys as in the file, values as TOML
    takes them), for a program that writes a service's file, such as the lab."""
    lines = []
    for key, value in options.items():
        if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise ValueError(f"{key!r} is no option name")
        # JSON's strings, numbers and booleans are TOML's too.
        if isinstance(value, str | bool | int):
            lines.append(f"{key} = {json.dumps(value)}")
        else:
            lines.append(f"{key} = {json.dumps([str(item) for item in value])}")
    return "\n".join(lines) + "\n"


def _example(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "true"
    default = action.default
    if default is None or default is argparse.SUPPRESS:
        if isinstance(action, argparse._AppendAction):
            return "[]"
        return "0" if action.type in (int, float) else '""'
    if isinstance(default, bool | int | float):
        return json.dumps(default)
    if isinstance(default, list | tuple):
        return json.dumps([str(item) for item in default])
    return json.dumps(str(default))
