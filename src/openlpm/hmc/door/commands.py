"""Which command lines the door runs: the console's HMC commands, split as argv, no shell.

A line is split as a POSIX shell would split words (``shlex``), but nothing a shell
would act on is accepted: an unquoted ``| ; & > < ( ) ` $``, a ``$`` or backquote even
within double quotes (a shell would expand them), a control character. The first word
must be one of ``HMC_COMMANDS``, by its bare name (no path). The argv that results goes
to ``execve`` as a list; no shell ever sees it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

HMC_COMMANDS = frozenset({
    "mksyscfg", "rmsyscfg", "chsysstate", "chsyscfg", "lssyscfg", "migrlpar", "lslparmigr",
    "lshwres", "mkhmcusr", "lshmcusr", "chhmcusr", "rmhmcusr", "lssvcevents", "mkauthkeys",
    "lsauthkeys", "mksysconn", "lssysconn", "rmsysconn"})
# Words that end an interactive session.
SESSION_END = frozenset({"exit", "logout"})
# The longest command line the door reads (an HMC command line is a few hundred bytes;
# a migrlpar -i with many mappings a few kB).
LINE_MAX = 8192
# Exit statuses, as a shell gives them: a command it does not know, a line it refuses.
UNKNOWN_STATUS = 127
REFUSED_STATUS = 2
SHELL_CHARACTERS = frozenset("|;&<>()`$")


@dataclass(frozen=True)
class Refused(Exception):
    """A line the door does not run: its code, the exit status to give, why."""

    code: str
    status: int
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.message}"


def split(line: str) -> list[str]:
    """The argv of an HMC command line; [] for an empty one.

    Raises Refused: HSCLF820 (too long), HSCLF821 (a character a shell would act on, or
    a control character), HSCLF822 (unbalanced quotes), HSCLF823 (not an HMC command,
    exit status 127).
    """
    if len(line) > LINE_MAX:
        raise Refused("HSCLF820", REFUSED_STATUS,
                      f"The command line is {len(line)} characters long; the longest "
                      f"the console runs is {LINE_MAX}.")
    _refuse_shell_syntax(line)
    try:
        argv = shlex.split(line, comments=False, posix=True)
    except ValueError:
        raise Refused("HSCLF822", REFUSED_STATUS,
                      "The command line has an unbalanced quote.") from None
    if argv and argv[0] not in HMC_COMMANDS | SESSION_END:
        raise Refused("HSCLF823", UNKNOWN_STATUS,
                      f"{_shown(argv[0])}: not an HMC command on this console (the "
                      f"restricted shell runs: {', '.join(sorted(HMC_COMMANDS))}).")
    return argv


def _refuse_shell_syntax(line: str) -> None:
    """Raises Refused (HSCLF821) at the first character a shell would act on, outside
    single quotes (``$`` and backquotes also within double quotes), or any control
    character but a tab."""
    quote = ""
    escaped = False
    for at, char in enumerate(line):
        if (ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F:
            raise _syntax(at, "a control character")
        if escaped:
            escaped = False
        elif quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif quote == '"':
            if char in "$`":
                raise _syntax(at, repr(char))
            quote = "" if char == '"' else quote
        elif char in "'\"":
            quote = char
        elif char in SHELL_CHARACTERS:
            raise _syntax(at, repr(char))


def _syntax(at: int, what: str) -> Refused:
    return Refused("HSCLF821", REFUSED_STATUS,
                   f"The command line holds {what} at column {at + 1}: the console runs "
                   f"one HMC command per line, without pipes, redirections, command "
                   f"substitution or variables (quote the character to pass it).")


def _shown(word: str) -> str:
    """A word as an error message may show it: printable, and short."""
    printable = "".join(c if c.isprintable() else "?" for c in word)
    return printable if len(printable) <= 64 else printable[:63] + "…"
