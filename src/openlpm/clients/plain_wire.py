"""The client edge that needs only the standard library: a name as one segment of a URL's
path, and what an answer means (its JSON body, or the OpenLpmError it carries).

``wire.py`` builds the httpx clients on them; the listing commands' stdlib client
(``console_reader.py``) uses them too, so both read an answer the same way.
"""

from __future__ import annotations

import json
import ssl
from typing import Any
from urllib.parse import quote

from openlpm.errors import OpenLpmError, RequestInvalid, SystemUnreachable, from_wire

MIB = 1 << 20
# A partition's console's last lines (up to 2,000 of 4,096 characters, each up to 6 bytes
# of JSON as an escaped control character): what an agent's console route answers, and
# the most the console's answers may hold (it passes them on, and lists every system's
# partitions and migrations).
CONSOLE_ANSWER_LIMIT = 64 * MIB


def segment(value: str) -> str:
    """``value`` as exactly one segment of a URL's path, whatever it holds.

    Percent-encoded whole, so a ``/``, ``?``, ``#`` or ``%`` in a name stays in it: a
    name taken from a request never reaches another path of the service behind.
    Raises RequestInvalid for ``""``, ``.`` and ``..``: no encoding keeps them a name
    (httpx folds ``..`` into the path, and ``%2E%2E`` is ``..`` to RFC 3986).
    """
    if value in ("", ".", ".."):
        raise RequestInvalid(f"{value!r} does not name anything: a name in a request "
                             f"is not empty, '.' or '..'.", code="HSCLF530")
    return quote(value, safe="")


def answer(status: int, content: bytes, what: str, where: str) -> Any:
    """The JSON body of a successful answer (None for an empty one); raises the
    OpenLpmError an error answer carries, SystemUnreachable (HSCLF547) for a successful
    one that is not JSON."""
    if 200 <= status < 300:
        try:
            return json.loads(content) if content else None
        except (ValueError, RecursionError):  # RecursionError: nested past the parser
            raise SystemUnreachable(f"{what} at {where} answered HTTP {status} with a "
                                    f"body that is not JSON. Check what answers at that "
                                    f"address.", code="HSCLF547") from None
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and "code" in body:
        raise from_wire(body)
    raise OpenLpmError(f"{what} answered HTTP {status}: "
                       f"{content[:300].decode(errors='replace')}")


def wrong_encoding(what: str, where: str, encoding: str) -> SystemUnreachable:
    """An answer in a content encoding not asked for (HSCLF547): only ``identity`` is,
    since a compressed answer would be counted against the limit after it is inflated."""
    return SystemUnreachable(
        f"{what} at {where} answered in a content encoding that was not asked for "
        f"({encoding[:40]!r}). Check what answers at that address.", code="HSCLF547")


def too_large(what: str, where: str, limit: int) -> SystemUnreachable:
    """An answer over ``limit`` bytes (HSCLF546), of which the rest was left unread."""
    return SystemUnreachable(
        f"{what} at {where} answered with more than {limit // 1024} KiB, more than any "
        f"answer of its API; the rest was not read. Check what answers at that address.",
        code="HSCLF546")


def unreachable(what: str, where: str, exc: BaseException,
                trust_hint: str) -> SystemUnreachable:
    """Why the service did not answer (HSCLF107), naming an untrusted certificate as such
    (HSCLF528, with ``trust_hint``: what to do about it)."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        return SystemUnreachable(
            f"{what} at {where} answered with a certificate that is not trusted here "
            f"({cause.verify_message}). {trust_hint}", code="HSCLF528")
    return SystemUnreachable(f"{what} at {where} did not answer ({type(exc).__name__}). "
                             f"Check that it is running and reachable.")
