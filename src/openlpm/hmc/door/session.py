"""A session of the door: one exec request (``ssh console CMD``) or an interactive one.

Each line is checked (``commands.split``), run (``runner.run``) and audited: action
``ssh LINE`` (passwords in it masked), result ``done``, ``failed`` (with the HSCL code
the command printed) or ``refused`` (with the door's code). An interactive session
prompts ``USER@CONSOLE:~> `` and ends at ``exit``, ``logout``, end of input, or when
idle too long; its commands read no input (give the options that skip a question).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Protocol

import asyncssh

from openlpm.hmc.door import runner
from openlpm.hmc.door.commands import LINE_MAX, SESSION_END, Refused, split
from openlpm.hmc.door.lines import LineReader

# What an audit line shows of a password given in a command line.
MASK = "***"
SECRET_OPTIONS = ("--passwd", "--password")
# passwd=P in -i's attributes, up to the next comma; within a quoted attribute
# ("passwd=a,b"), up to the closing quote.
SECRET_ATTRIBUTE = re.compile(r"(\")?\b(passwd|password)=((?(1)[^\"]*|[^,\"']*))")
REFUSED_SUBSYSTEM = Refused("HSCLF825", 2, "This console serves no SSH subsystem (sftp, "
                                           "scp): it runs HMC commands only.")


class Audit(Protocol):
    def record(self, user: str, action: str, result: str,
               code: str | None = None) -> None: ...


@dataclass(frozen=True)
class SessionContext:
    user: str
    console: str
    child: runner.Child
    audit: Audit
    idle_s: float


def masked(argv: list[str]) -> str:
    """The command line as the audit log keeps it: no password in it (``--passwd P``,
    ``passwd=P`` in ``-i``, ``chhmcusr -t passwd -v P``), however argparse would take
    the option (``--passwd=P``, ``--pass P``, ``-vP``)."""
    shown: list[str] = []
    hide_next = False
    for word in argv:
        if hide_next:
            shown.append(MASK)
            hide_next = False
            continue
        name, equals, _ = word.partition("=")
        if len(name) > 2 and name.startswith("--") and any(
                option.startswith(name) for option in SECRET_OPTIONS):
            # argparse takes any unambiguous start of a long option: --pass is --passwd.
            shown.append(f"{name}={MASK}" if equals else word)
            hide_next = not equals
        elif argv[0] == "chhmcusr" and word.startswith("-v") and word != "-v":
            shown.append(f"-v{MASK}")
        else:
            shown.append(SECRET_ATTRIBUTE.sub(rf"\1\2={MASK}", word))
            hide_next = argv[0] == "chhmcusr" and word == "-v"
    return " ".join(shown)


def shown_line(line: str) -> str:
    """A refused line as the audit log keeps it: printable, passwords masked as far as
    the line can be split."""
    printable = "".join(c if c.isprintable() else "?" for c in line[:LINE_MAX])
    return masked(printable.split())


async def run_line(line: str, context: SessionContext, channel: runner.Channel) -> int | None:
    """Run one command line; its exit status, or None for ``exit``/``logout``."""
    try:
        argv = split(line)
    except Refused as refused:
        return _refuse(refused, shown_line(line), context, channel)
    if not argv:
        return 0
    if argv[0] in SESSION_END:
        return None
    outcome = await runner.run(argv, context.child, channel)
    context.audit.record(context.user, f"ssh {masked(argv)}",
                         "done" if outcome.status == 0 else "failed",
                         None if outcome.status == 0 else outcome.code)
    return outcome.status


def _refuse(refused: Refused, line: str, context: SessionContext,
            channel: runner.Channel) -> int:
    channel.stderr.write(f"{refused}\n".encode().replace(
        b"\n", b"\r\n" if channel.terminal else b"\n"))
    context.audit.record(context.user, f"ssh {line}", "refused", refused.code)
    return refused.status


async def serve(process: asyncssh.SSHServerProcess[bytes], context: SessionContext) -> None:
    """Answer one session request; the channel's exit status is the last command's."""
    terminal = process.term_type is not None
    channel = runner.Channel(stdin=process.stdin, stdout=process.stdout,
                             stderr=process.stderr, closed=process.wait_closed,
                             terminal=terminal)
    if process.subsystem is not None:
        process.exit(_refuse(REFUSED_SUBSYSTEM, f"subsystem {process.subsystem}", context,
                             channel))
    elif process.command is not None:
        status = await run_line(process.command, context, channel)
        process.exit(status or 0)
    else:
        process.exit(await _interactive(process, context, terminal))


async def _interactive(process: asyncssh.SSHServerProcess[bytes], context: SessionContext,
                       terminal: bool) -> int:
    channel = runner.Channel(stdin=None, stdout=process.stdout, stderr=process.stderr,
                             closed=process.wait_closed, terminal=terminal)
    reader = LineReader(process.stdin, process.stdout if terminal else None)
    status = 0
    while True:
        process.stdout.write(f"{context.user}@{context.console}:~> ".encode())
        try:
            line = await asyncio.wait_for(reader.line(), context.idle_s)
        except TimeoutError:
            process.stderr.write(b"\r\nIdle for too long: session ended.\r\n")
            return status
        if line is None:
            return status
        ran = await run_line(line, context, channel)
        if ran is None:
            return status
        status = ran
