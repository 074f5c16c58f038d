"""Password hashes: scrypt at OWASP's cost, each hash carrying the cost it was made at.

A hash is ``scrypt$ln=17,r=8,p=1$SALT$DIGEST`` (base64): a hash made at an older cost
stays verifiable, and is made again at the current one when its user signs in. Hashes
written before the cost was kept (``scrypt$SALT$DIGEST``) were made at N=2^14.

scrypt at N=2^17 takes 128 MiB and most of a second of one core: ``Hasher`` runs it in
worker threads, a few at a time, so that neither the console's event loop (which drives
migrations) nor its memory suffers from a burst of sign-ins.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from openlpm.errors import RequestInvalid

MIN_LENGTH = 8


@dataclass(frozen=True)
class Cost:
    """scrypt's parameters: N = 2**log2_n, block size r, parallelism p."""

    log2_n: int
    r: int
    p: int

    @property
    def memory(self) -> int:
        """What scrypt needs (128·N·r bytes), with room for OpenSSL's own use."""
        return 128 * (1 << self.log2_n) * self.r * self.p + (1 << 20)

    def __str__(self) -> str:
        return f"ln={self.log2_n},r={self.r},p={self.p}"


# OWASP's Password Storage Cheat Sheet (2023 on): N=2^17, r=8, p=1.
COST = Cost(17, 8, 1)
# The cost of the hashes that do not name theirs.
UNNAMED_COST = Cost(14, 8, 1)
# Half the cores at most, so that sign-ins leave the others to migrations.
SLOTS = max(1, (os.cpu_count() or 2) // 2)


def require_acceptable(password: str) -> None:
    """Raises RequestInvalid (HSCLF511) for a password too short to be a new one."""
    if len(password) < MIN_LENGTH:
        raise RequestInvalid(f"A password has at least {MIN_LENGTH} characters.",
                             code="HSCLF511")


def make_hash(password: str, cost: Cost | None = None) -> str:
    cost = cost or COST
    salt = secrets.token_bytes(16)
    return _format(cost, salt, _scrypt(password, salt, cost))


def matches(password: str, stored: str) -> bool:
    cost, salt, digest = _parse(stored)
    return hmac.compare_digest(_scrypt(password, salt, cost), digest)


def is_current(stored: str) -> bool:
    return _parse(stored)[0] == COST


def unmatchable() -> str:
    """A hash at the current cost that no password matches: checked for a user that does
    not exist, so that a wrong name takes as long as a wrong password."""
    return _format(COST, secrets.token_bytes(16), secrets.token_bytes(32))


def _scrypt(password: str, salt: bytes, cost: Cost) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=1 << cost.log2_n, r=cost.r,
                          p=cost.p, maxmem=cost.memory, dklen=32)


def _format(cost: Cost, salt: bytes, digest: bytes) -> str:
    return f"scrypt${cost}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[Cost, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) == 3:
        return UNNAMED_COST, base64.b64decode(parts[1]), base64.b64decode(parts[2])
    params = dict(field.split("=") for field in parts[1].split(","))
    cost = Cost(int(params["ln"]), int(params["r"]), int(params["p"]))
    return cost, base64.b64decode(parts[2]), base64.b64decode(parts[3])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Hasher:
    """scrypt off the event loop, at most ``slots`` at once (the others wait their turn
    without holding a thread)."""

    def __init__(self, slots: int = SLOTS) -> None:
        self._slots = asyncio.Semaphore(slots)

    async def make_hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(make_hash, password)

    async def matches(self, password: str, stored: str | None) -> bool:
        """Whether ``password`` matches ``stored``; None (no such user) is checked
        against an unmatchable hash at the same cost, and never matches."""
        async with self._slots:
            found = await asyncio.to_thread(matches, password, stored or unmatchable())
        return found and stored is not None
