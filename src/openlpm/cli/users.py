"""Signing in and access control from the command line: ``openlpm login|logout|token``
and the HMC's ``mkhmcusr``, ``lshmcusr``, ``chhmcusr``, ``rmhmcusr`` and ``lssvcevents``.

Passwords are asked for at a terminal, or read from the first line of standard input
when there is none (scripts): never taken as an argument, which any user of the host
could read in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Sequence

from openlpm.cli.hmc_command import HmcArgumentParser, listing, listing_options, run_hmc_command
from openlpm.clients.console import HmcClient, hmc_url
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


def mkhmcusr_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="mkhmcusr", description="Create a console user; the "
                               "password is asked for (or read from standard input).")
    parser.add_argument("-u", dest="user", required=True, help="user name")
    parser.add_argument("-a", dest="role", required=True, choices=ROLES, help="task role")
    parser.add_argument("-d", dest="description", help="accepted for HMC compatibility")
    return parser


async def _mkhmcusr(args: argparse.Namespace, hmc: HmcClient) -> None:
    await hmc.create_user(UserCreate(name=args.user, role=Role(args.role),
                                     password=read_secret(f"Password of {args.user}: ")))


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
    parser = HmcArgumentParser(prog="chhmcusr", description="Change a console user's "
                               "password (asked for) or task role.")
    parser.add_argument("-u", dest="user", required=True, help="user name")
    parser.add_argument("-t", dest="what", required=True, choices=["passwd", "taskrole"])
    parser.add_argument("-v", dest="value", help="the new task role (with -t taskrole)")
    return parser


async def _chhmcusr(args: argparse.Namespace, hmc: HmcClient) -> None:
    if args.what == "taskrole":
        if args.value not in ROLES:
            raise RequestInvalid(f"chhmcusr -t taskrole needs -v with one of "
                                 f"{', '.join(ROLES)}.", code="HSCLF001")
        change = UserChange(role=Role(args.value))
    else:
        change = UserChange(password=read_secret(f"New password of {args.user}: "))
    await hmc.change_user(args.user, change)


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
