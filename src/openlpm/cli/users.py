"""Signing in and access control from the command line: ``openlpm login|logout|token``
and the HMC's ``mkhmcusr``, ``lshmcusr``, ``chhmcusr``, ``rmhmcusr`` and ``lssvcevents``.

Passwords are asked for at a terminal, or read from the first line of standard input
when there is none (scripts). ``mkhmcusr --passwd``, ``passwd=`` in ``-i`` and
``chhmcusr -t passwd -v`` take one on the command line as the HMC does, for the scripts
written for it; on the machine that runs the command any local user can read it in the
process list meanwhile, and a shell keeps it in its history (docs/cli.md says so).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from openlpm.cli.hmc_command import run_hmc_command
from openlpm.cli.hmc_syntax import HmcArgumentParser, listing, listing_options, parse_attributes
from openlpm.clients.console import HmcClient
from openlpm.clients.console_address import hmc_url
from openlpm.clients.credentials import forget, save
from openlpm.errors import RequestInvalid
from openlpm.model import AuditEvent, Role, User, UserChange, UserCreate

ROLES = [role.value for role in Role]


def read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline().rstrip("\n")
    if not line:
        raise RequestInvalid("No password on standard input.", code="HSCLF516")
    return line


async def login(args: argparse.Namespace) -> None:
    url = hmc_url()
    async with HmcClient(url) as hmc:
        session = await hmc.login(args.user, read_secret(f"Password of {args.user}: "))
    path = save(url, session.token)
    print(f"signed in to {url} as {session.user} ({session.role.value}) until "
          f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(session.expires))}; "
          f"credentials in {path}")


async def logout(_: argparse.Namespace) -> None:
    url = hmc_url()
    async with HmcClient(url) as hmc:
        await hmc.logout()
    forget(url)
    print(f"signed out of {url}")


async def token(args: argparse.Namespace) -> None:
    async with HmcClient(hmc_url()) as hmc:
        if args.action == "create":
            created = await hmc.create_token(args.name)
            print(f"token {created.token.id} ({created.token.name}) for "
                  f"{created.token.user}; keep it now, it is not shown again:")
            print(created.secret)
        elif args.action == "list":
            listing([{"id": t.id, "name": t.name, "user": t.user,
                      "created": _when(t.created),
                      "last_used": _when(t.last_used) if t.last_used else None}
                     for t in await hmc.tokens()], args)
        else:
            await hmc.remove_token(args.id)


def _when(at: float) -> str:
    """The HMC's time format in listings."""
    return time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(at))


def user_record(user: User) -> dict[str, object]:
    return {"name": user.name, "taskrole": user.role.value, "created": _when(user.created)}


# What ``-i``/``-f`` of mkhmcusr and chhmcusr take: the HMC's attributes that mean
# something here. The HMC's others (resourcerole, min_pwage, authentication_type, the
# time-outs, ...) are refused by name (HSCLF003).
USER_ATTRIBUTES = {"name", "taskrole", "passwd", "description", "pwage"}
# The HMC's pwage for a password that never expires, which openlpm's never do.
NEVER_EXPIRES = "99999"


def mkhmcusr_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(
        prog="mkhmcusr", description="Create a console user: -u NAME -a ROLE, or -i "
        '"name=NAME,taskrole=ROLE[,passwd=PW][,description=TEXT][,pwage=99999]" (or -f '
        "FILE holding that). Without a password it is asked for (or read from standard "
        "input).")
    parser.add_argument("-u", dest="user", help="user name")
    parser.add_argument("-a", dest="role", choices=ROLES, help="task role")
    parser.add_argument("-d", dest="description", help="description (not kept by openlpm)")
    parser.add_argument("--passwd", metavar="PASSWORD", help="the password (visible in the "
                        "process list: leave it out to be asked)")
    parser.add_argument("-M", dest="pwage", metavar="DAYS", help="password age: 99999 "
                        "(never expires) only")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("-i", dest="attributes", help="input data: name=,taskrole=,passwd=,"
                      "description=,pwage=")
    data.add_argument("-f", dest="file", type=Path, help="a file holding the input data")
    return parser


def input_data(prog: str, args: argparse.Namespace, flags: Mapping[str, object]
               ) -> dict[str, str] | None:
    """The ``-i``/``-f`` attributes, None when neither is given; with one of them, the
    flags of the other form (``flags``: option -> value) are refused, as on the HMC."""
    if args.attributes is None and args.file is None:
        return None
    given = [option for option, value in flags.items() if value is not None]
    if given:
        raise RequestInvalid(f"{prog}: -i and -f cannot be combined with {', '.join(given)}"
                             f": give every attribute in the input data. See {prog} "
                             f"--help.", code="HSCLF001")
    text = args.attributes
    if text is None:
        try:
            text = args.file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise RequestInvalid(f"{prog} -f: cannot read {args.file}: {exc}.",
                                 code="HSCLF016") from exc
    attributes = parse_attributes(text, USER_ATTRIBUTES, prog)
    if "name" not in attributes:
        raise RequestInvalid(f"{prog}: the input data needs name=USER.", code="HSCLF001")
    return attributes


def task_role(prog: str, value: str) -> Role:
    if value not in ROLES:
        raise RequestInvalid(f"{prog}: taskrole {value!r} is not a task role of openlpm; "
                             f"use one of {', '.join(ROLES)}.", code="HSCLF001")
    return Role(value)


def require_no_expiry(prog: str, pwage: str | None) -> None:
    """The HMC's password age: openlpm's passwords never expire, so only the HMC's value
    for that (its default) is taken."""
    if pwage is not None and pwage.strip() != NEVER_EXPIRES:
        raise RequestInvalid(
            f"{prog}: pwage {pwage} is not supported: openlpm's passwords do not expire. "
            f"Leave pwage (-M) out, or give {NEVER_EXPIRES}.", code="HSCLF570")


def ignore_description(prog: str, description: str | None) -> None:
    if description is not None:
        print(f"{prog}: openlpm does not keep user descriptions; the description is not "
              f"stored.", file=sys.stderr)


async def _mkhmcusr(args: argparse.Namespace, hmc: HmcClient) -> None:
    data = input_data("mkhmcusr", args, {"-u": args.user, "-a": args.role,
                                         "-d": args.description, "--passwd": args.passwd,
                                         "-M": args.pwage})
    if data is None:
        if args.user is None or args.role is None:
            raise RequestInvalid("mkhmcusr: give -u USER and -a ROLE, or -i/-f with name= "
                                 "and taskrole=. See mkhmcusr --help.", code="HSCLF001")
        data = {"name": args.user, "taskrole": args.role}
        for key, value in (("passwd", args.passwd), ("description", args.description),
                           ("pwage", args.pwage)):
            if value is not None:
                data[key] = value
    if "taskrole" not in data:
        raise RequestInvalid("mkhmcusr: the input data needs taskrole=ROLE.",
                             code="HSCLF001")
    role = task_role("mkhmcusr", data["taskrole"])
    require_no_expiry("mkhmcusr", data.get("pwage"))
    ignore_description("mkhmcusr", data.get("description"))
    name = data["name"]
    password = data.get("passwd") or read_secret(f"Password of {name}: ")
    await hmc.create_user(UserCreate(name=name, role=role, password=password))


def mkhmcusr(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(mkhmcusr_parser, _mkhmcusr, argv)


def lshmcusr_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="lshmcusr", description="List the console's users.")
    listing_options(parser)
    return parser


async def _lshmcusr(args: argparse.Namespace, hmc: HmcClient) -> None:
    listing([user_record(u) for u in await hmc.users()], args)


def lshmcusr(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(lshmcusr_parser, _lshmcusr, argv)


def chhmcusr_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(
        prog="chhmcusr", description="Change a console user's password or task role: -u "
        "NAME -t passwd|taskrole [-v VALUE], or -i \"name=NAME,taskrole=ROLE|passwd=PW\" "
        "(or -f FILE holding that). A password left out is asked for.")
    parser.add_argument("-u", dest="user", help="user name")
    parser.add_argument("-t", dest="what", choices=["passwd", "taskrole"])
    parser.add_argument("-v", dest="value", help="the new task role (-t taskrole) or "
                        "password (-t passwd; visible in the process list: leave it out to "
                        "be asked)")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("-i", dest="attributes", help="input data: name= and taskrole=, "
                      "passwd=, description=, pwage=")
    data.add_argument("-f", dest="file", type=Path, help="a file holding the input data")
    return parser


async def _chhmcusr(args: argparse.Namespace, hmc: HmcClient) -> None:
    data = input_data("chhmcusr", args, {"-u": args.user, "-t": args.what, "-v": args.value})
    if data is not None:
        await _chhmcusr_data(data, hmc)
        return
    if args.user is None or args.what is None:
        raise RequestInvalid("chhmcusr: give -u USER and -t passwd|taskrole, or -i/-f. See "
                             "chhmcusr --help.", code="HSCLF001")
    if args.what == "taskrole":
        if args.value not in ROLES:
            raise RequestInvalid(f"chhmcusr -t taskrole needs -v with one of "
                                 f"{', '.join(ROLES)}.", code="HSCLF001")
        change = UserChange(role=Role(args.value))
    else:
        change = UserChange(password=args.value
                            or read_secret(f"New password of {args.user}: "))
    await hmc.change_user(args.user, change)


async def _chhmcusr_data(data: Mapping[str, str], hmc: HmcClient) -> None:
    require_no_expiry("chhmcusr", data.get("pwage"))
    ignore_description("chhmcusr", data.get("description"))
    role = task_role("chhmcusr", data["taskrole"]) if "taskrole" in data else None
    password = data.get("passwd")
    if role is None and password is None:
        if "description" in data or "pwage" in data:
            return
        raise RequestInvalid("chhmcusr: the input data changes nothing: give taskrole= "
                             "or passwd= with name=.", code="HSCLF001")
    await hmc.change_user(data["name"], UserChange(role=role, password=password))


def chhmcusr(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(chhmcusr_parser, _chhmcusr, argv)


def rmhmcusr_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="rmhmcusr", description="Remove a console user and "
                               "its sessions and tokens.")
    parser.add_argument("-u", dest="user", required=True, help="user name")
    return parser


async def _rmhmcusr(args: argparse.Namespace, hmc: HmcClient) -> None:
    await hmc.remove_user(args.user)


def rmhmcusr(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(rmhmcusr_parser, _rmhmcusr, argv)


def lssvcevents_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="lssvcevents", description="List console events: "
                               "the audit log of every change and every refusal.")
    parser.add_argument("-t", dest="type", required=True, choices=["console"],
                        help="console: the audit log")
    parser.add_argument("-d", dest="days", type=float, default=7.0,
                        help="events of the last DAYS days")
    parser.add_argument("-i", dest="minutes", type=float,
                        help="events of the last MINUTES minutes (instead of -d)")
    listing_options(parser)
    return parser


def event_record(event: AuditEvent) -> dict[str, object]:
    return {"time": _when(event.at), "user": event.user, "text": event.action,
            "result": event.result, "code": event.code}


async def _lssvcevents(args: argparse.Namespace, hmc: HmcClient) -> None:
    window = args.minutes * 60 if args.minutes is not None else args.days * 86400
    listing([event_record(e) for e in await hmc.audit(time.time() - window)], args)


def lssvcevents(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(lssvcevents_parser, _lssvcevents, argv)
