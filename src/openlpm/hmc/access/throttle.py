"""Counting failed sign-ins, to refuse a guesser for a while.

Each key (a user name, a client address) keeps the times of its last failures, as many
as its limit allows; while the oldest of them is younger than the window, the key is
refused. At most ``keys`` keys are kept, the least recently failed forgotten first, so
sign-ins with ever new user names cannot grow the counts without bound (a guesser at one
address meets that address's own limit long before).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from openlpm.errors import TooManyAttempts

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` failures within ``window_s`` seconds."""

    attempts: int
    window_s: float


# A user is refused after 5 failures in 5 minutes. An address, which a whole office may
# share behind one gateway, and from which the lab's own commands sign in, gets more:
# what it stops is one guesser trying many users.
PER_USER = Limit(5, 300.0)
PER_ADDRESS = Limit(20, 300.0)
KEYS = 4096


class Failures:
    """The recent failures of each key under one limit."""

    def __init__(self, limit: Limit, clock: Clock = time.monotonic, keys: int = KEYS) -> None:
        self.limit = limit
        self._clock = clock
        self._keys = keys
        # Oldest failure first, both in each key's times and among the keys.
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    def retry_in(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        times = self._times.get(key)
        if times is None or len(times) < self.limit.attempts:
            return 0.0
        return max(0.0, times[0] + self.limit.window_s - self._clock())

    def add(self, key: str) -> None:
        times = self._times.pop(key, None) or deque(maxlen=self.limit.attempts)
        times.append(self._clock())
        self._times[key] = times
        while len(self._times) > self._keys:
            self._times.popitem(last=False)

    def take_back(self, key: str) -> None:
        """Drop the newest failure of ``key``: an attempt counted before it succeeded."""
        times = self._times.get(key)
        if times:
            times.pop()
        if not times:
            self._times.pop(key, None)

    def forget(self, key: str) -> None:
        self._times.pop(key, None)


class SignInThrottle:
    """Failed sign-ins per user name and per client address.

    An attempt counts as failed from its start until it succeeds: a burst of guesses
    sent at once cannot all start before the first has failed.
    """

    def __init__(self, clock: Clock = time.monotonic, per_user: Limit = PER_USER,
                 per_address: Limit = PER_ADDRESS, keys: int = KEYS) -> None:
        self.users = Failures(per_user, clock, keys)
        self.addresses = Failures(per_address, clock, keys)

    def begin(self, user: str, address: str) -> None:
        """Count an attempt to sign in as ``user`` from ``address``.

        Raises TooManyAttempts (HSCLF510), counting nothing, while either has reached
        its limit.
        """
        wait = self.users.retry_in(user)
        if wait:
            raise _refused(f"for user {user}", wait, self.users.limit)
        wait = self.addresses.retry_in(address)
        if wait:
            raise _refused(f"from {address}", wait, self.addresses.limit)
        self.users.add(user)
        self.addresses.add(address)

    def succeeded(self, user: str, address: str) -> None:
        """The attempt was right: the user starts again from no failures; the address
        keeps its other failures."""
        self.users.forget(user)
        self.addresses.take_back(address)


def _refused(what: str, wait: float, limit: Limit) -> TooManyAttempts:
    seconds = math.ceil(wait)
    return TooManyAttempts(
        f"Too many failed sign-ins {what} ({limit.attempts} in {limit.window_s:.0f} s): "
        f"signing in is refused for {seconds} s more. Sessions and API tokens already "
        f"issued still work.", code="HSCLF510", details={"retry_after_s": seconds})
