"""Lines typed in an interactive session, read from the channel's raw bytes.

With a terminal (the client asked for a pty) the door echoes what is typed and
handles what a terminal's line discipline would: Return ends a line, Backspace erases,
Ctrl-C drops the line, Ctrl-U clears it, Ctrl-D on an empty line ends the session;
escape sequences (arrow keys) are ignored. Without one, lines end at LF.
"""

from __future__ import annotations

from openlpm.hmc.door.commands import LINE_MAX
from openlpm.hmc.door.runner import Reader, Writer

ERASE = {0x7F, 0x08}


class LineReader:
    def __init__(self, source: Reader, echo: Writer | None) -> None:
        self._source = source
        self._echo = echo
        self._pending = b""
        self._line = bytearray()
        self._escape = 0  # 0: none; 1: after ESC; 2: within a CSI/SS3 sequence

    async def line(self) -> str | None:
        """The next line (over-long lines are cut past LINE_MAX, and then refused);
        None at end of input."""
        while True:
            while self._pending:
                byte, self._pending = self._pending[0], self._pending[1:]
                done = self._take(byte)
                if done is not None:
                    return done if done != "\x04" else None
            data = await self._source.read(4096)
            if not data:
                return None if not self._line else self._finish()
            self._pending = data

    def _take(self, byte: int) -> str | None:
        """Take one byte; a line when it ends one ("\x04": the session's end)."""
        terminal = self._echo is not None
        if self._escape:
            inside = (self._escape == 1 and byte in b"[O") or (
                self._escape == 2 and not 0x40 <= byte <= 0x7E)
            self._escape = 2 if inside else 0
        elif byte == (0x0D if terminal else 0x0A):
            return self._finish()
        elif byte in b"\r\n":
            pass
        elif terminal:
            return self._edit(byte)
        elif len(self._line) <= LINE_MAX:
            self._line.append(byte)
        return None

    def _edit(self, byte: int) -> str | None:
        """A byte typed on a terminal."""
        if byte == 0x1B:
            self._escape = 1
        elif byte in ERASE:
            self._erase()
        elif byte == 0x03:
            self._line.clear()
            self._say(b"^C\r\n")
            return ""
        elif byte == 0x15:
            self._say(b"\b \b" * len(self._line.decode("utf-8", "replace")))
            self._line.clear()
        elif byte == 0x04:
            return "\x04" if not self._line else None
        elif byte >= 0x20 and len(self._line) <= LINE_MAX:
            self._line.append(byte)
            self._say(bytes([byte]))
        return None

    def _erase(self) -> None:
        if not self._line:
            return
        while self._line and self._line[-1] & 0xC0 == 0x80:
            self._line.pop()
        if self._line:
            self._line.pop()
        self._say(b"\b \b")

    def _finish(self) -> str:
        self._say(b"\r\n")
        line = self._line.decode("utf-8", "replace")
        self._line.clear()
        return line.rstrip("\r")

    def _say(self, data: bytes) -> None:
        if self._echo is not None:
            self._echo.write(data)
