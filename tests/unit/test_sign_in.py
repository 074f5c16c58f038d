"""Signing in as a guesser meets it: failures counted per user and per address (fake
clock), scrypt off the event loop at the same cost for every name, OWASP's cost."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from openlpm.errors import NotSignedIn, TooManyAttempts
from openlpm.hmc.access import passwords, signin
from openlpm.hmc.access.guard import AuditLog
from openlpm.hmc.access.passwords import Cost, Hasher
from openlpm.hmc.access.signin import SignIn
from openlpm.hmc.access.throttle import Failures, Limit, SignInThrottle
from openlpm.hmc.stores.users import Users
from openlpm.model import Login, Role


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: FakeClock) -> SignInThrottle:
    return SignInThrottle(clock, per_user=Limit(5, 300), per_address=Limit(20, 300))


def fail(gate: SignInThrottle, user: str, address: str, times: int = 1) -> None:
    for _ in range(times):
        gate.begin(user, address)


# -- the throttle ----------------------------------------------------------------------

def test_a_user_is_refused_after_five_failures_until_the_window_passes() -> None:
    clock = FakeClock()
    gate = throttle(clock)
    fail(gate, "ann", "192.0.2.1", 5)
    clock.now += 100
    with pytest.raises(TooManyAttempts) as refused:
        gate.begin("ann", "192.0.2.9")
    assert refused.value.code == "HSCLF510" and refused.value.http_status == 429
    assert refused.value.details["retry_after_s"] == 200
    assert "for user ann" in refused.value.message
    clock.now += 200
    gate.begin("ann", "192.0.2.1")


def test_a_refused_attempt_is_not_counted_and_others_are_unaffected() -> None:
    clock = FakeClock()
    gate = throttle(clock)
    fail(gate, "ann", "192.0.2.1", 5)
    for _ in range(10):
        with pytest.raises(TooManyAttempts):
            gate.begin("ann", "192.0.2.1")
    gate.begin("bob", "192.0.2.1")
    # Ten refusals later, the five failures still end when they would have.
    clock.now += 300
    gate.begin("ann", "192.0.2.1")


def test_a_success_clears_the_user_but_not_the_address() -> None:
    clock = FakeClock()
    gate = SignInThrottle(clock, per_user=Limit(5, 300), per_address=Limit(6, 300))
    fail(gate, "ann", "192.0.2.1", 4)
    gate.begin("ann", "192.0.2.1")
    gate.succeeded("ann", "192.0.2.1")
    fail(gate, "ann", "192.0.2.1", 2)
    with pytest.raises(TooManyAttempts, match="from 192.0.2.1"):
        gate.begin("ann", "192.0.2.1")


def test_one_address_trying_many_users_is_refused() -> None:
    gate = throttle(FakeClock())
    for n in range(20):
        gate.begin(f"user{n}", "198.51.100.7")
    with pytest.raises(TooManyAttempts, match="from 198.51.100.7"):
        gate.begin("hscroot", "198.51.100.7")
    gate.begin("hscroot", "192.0.2.1")


def test_old_failures_age_out_one_by_one() -> None:
    clock = FakeClock()
    gate = throttle(clock)
    fail(gate, "ann", "192.0.2.1", 4)
    clock.now += 299
    gate.begin("ann", "192.0.2.1")
    with pytest.raises(TooManyAttempts):
        gate.begin("ann", "192.0.2.1")
    clock.now += 2
    gate.begin("ann", "192.0.2.1")


def test_the_counts_stay_bounded_whatever_names_are_tried() -> None:
    failures = Failures(Limit(5, 300), FakeClock(), keys=100)
    for _ in range(5):
        failures.add("ann")
    for n in range(99):
        failures.add(f"random-{n}")
    assert len(failures) == 100 and failures.retry_in("ann") == 300
    # The least recently failed key goes first.
    for n in range(10_000):
        failures.add(f"random-more-{n}")
    assert len(failures) == 100 and failures.retry_in("ann") == 0


# -- signing in ------------------------------------------------------------------------

@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The N of each scrypt the console runs."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counted(password: bytes, **kwargs: Any) -> bytes:
        calls.append(kwargs["n"])
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    monkeypatch.setattr(signin, "FAILED_SIGN_IN_DELAY_S", 0.0)
    return calls


@pytest.fixture
def console(tmp_path: Path) -> SignIn:
    users = Users(tmp_path / "hmc.db")
    users.create("ann", Role.VIEWER, passwords.make_hash("ann-password"))
    return SignIn(users, AuditLog(tmp_path / "hmc.db"), throttle=throttle(FakeClock()))


def attempt(sign_in: SignIn, user: str, password: str, address: str = "192.0.2.1") -> str:
    """The code of the refusal, or ``done``."""
    try:
        asyncio.run(sign_in(Login(user=user, password=password), address))
    except (NotSignedIn, TooManyAttempts) as exc:
        return exc.code
    return "done"


def test_an_unknown_user_costs_the_same_scrypt_as_a_wrong_password(
        console: SignIn, scrypt_calls: list[int]) -> None:
    assert attempt(console, "nobody", "some-password") == "HSCLF501"
    assert attempt(console, "ann", "wrong-password") == "HSCLF501"
    assert scrypt_calls == [1 << passwords.COST.log2_n] * 2


def test_a_throttled_sign_in_runs_no_scrypt_and_is_audited(
        console: SignIn, scrypt_calls: list[int]) -> None:
    codes = [attempt(console, "ann", "wrong-password") for _ in range(5)]
    assert codes == ["HSCLF501"] * 5
    assert attempt(console, "ann", "ann-password") == "HSCLF510"
    assert len(scrypt_calls) == 5
    events = [(e.user, e.action, e.result, e.code) for e in console.audit.events()]
    assert events[-1] == ("ann", "sign in", "refused", "HSCLF510")


def test_a_hash_of_the_old_cost_still_signs_in_and_is_made_again_at_today_s(
        console: SignIn) -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old-password", salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    console.users.create("old", Role.VIEWER, old)
    assert attempt(console, "old", "old-password") == "done"
    renewed = console.users.password_hash("old")
    assert renewed is not None and renewed.startswith(f"scrypt${passwords.COST}$")
    assert attempt(console, "old", "old-password") == "done"


def test_sign_ins_check_passwords_off_the_event_loop(
        console: SignIn, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_scrypt(password: str, salt: bytes, cost: Cost) -> bytes:
        time.sleep(0.3)  # as scrypt does: holding its thread, not the loop
        return b"\0" * 32

    monkeypatch.setattr(passwords, "_scrypt", slow_scrypt)
    monkeypatch.setattr(signin, "FAILED_SIGN_IN_DELAY_S", 0.0)
    console.hasher = Hasher(slots=2)

    async def scenario() -> float:
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                gaps.append(time.monotonic() - last)
                last = time.monotonic()

        ticking = asyncio.create_task(ticker())
        attempts = [console(Login(user=f"u{n}", password="x" * 8), f"192.0.2.{n}")
                    for n in range(4)]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        ticking.cancel()
        assert all(isinstance(r, NotSignedIn) for r in results)
        return max(gaps)

    assert asyncio.run(scenario()) < 0.2


def test_the_cost_is_owasp_s_and_its_memory_is_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real cost, not the unit tests' cheap one
    cost = passwords.COST
    assert (cost.log2_n, cost.r, cost.p) == (17, 8, 1)
    stored = passwords.make_hash("a-password")
    assert stored.startswith("scrypt$ln=17,r=8,p=1$")
    assert passwords.matches("a-password", stored)
    assert not passwords.matches("another-password", stored)
