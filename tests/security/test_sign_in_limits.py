"""Denial of service before signing in, and password guessing, against the real console.

An outsider sends bodies too large to hold and user names too long to log; a guesser
tries passwords for one user, or one user after another from one address, and tries
them all at once to stall the console; weak users reach for what their role does not
give. Each is refused, audited, and the console goes on answering everyone else.

The lab's own commands sign in once, as hscroot, and keep the token: the lockouts here
fall on users made for them and on a lab system's address, never on hscroot or on the
host's loopback, so the package's other tests are not locked out.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openlpm.lab import site
from openlpm.lab.site import HMC_ADDRESS, PEER_PORT
from tests.integration.conftest import Lab
from tests.security.conftest import from_namespace

MIB = 2**20


@pytest.fixture
def console(lab: Lab) -> Iterator[httpx.Client]:
    """An HTTPS client of the console that nobody signed in with."""
    with httpx.Client(base_url=lab.state.hmc_url, timeout=120,
                      verify=site.console_trust(lab.state)) as client:
        yield client


def made_user(lab: Lab, name: str, role: str = "hmcviewer") -> str:
    """A user of the console made for one test; returns its password."""
    password = f"{name}-password"
    lab.run("mkhmcusr", "-u", name, "-a", role, stdin=f"{password}\n")
    return password


def audited(lab: Lab, minutes: int = 30) -> list[str]:
    return lab.values("lssvcevents", "-t", "console", "-i", str(minutes), "-F",
                      "user:text:result:code")


def sign_in(console: httpx.Client, user: str, password: str) -> httpx.Response:
    return console.post("/login", json={"user": user, "password": password})


def answers(lab: Lab) -> None:
    """The console still serves the lab's own commands."""
    assert "sys1" in lab.values("lssyscfg", "-r", "sys", "-F", "name")


def code(reply: httpx.Response) -> tuple[int, str]:
    return reply.status_code, reply.json()["code"]


def test_a_body_too_large_is_refused_before_it_is_read_and_the_console_still_answers(
        lab: Lab, console: httpx.Client) -> None:
    declared = console.post("/login", content=b"{" + b" " * (10 * MIB) + b"}",
                            headers={"content-type": "application/json"})
    assert code(declared) == (413, "HSCLF517")

    def chunks() -> Iterator[bytes]:  # no Content-Length: only counting can stop it
        yield b'{"user": "'
        for _ in range(10 * 16):
            yield b"u" * (64 * 1024)
        yield b'", "password": "x"}'

    chunked = console.post("/login", content=chunks(),
                           headers={"content-type": "application/json"})
    assert code(chunked) == (413, "HSCLF517")
    answers(lab)
    assert audited(lab).count("-:POST /login:refused:HSCLF517") >= 2


def test_a_huge_user_name_is_refused_and_nothing_that_long_reaches_the_audit_log(
        lab: Lab, console: httpx.Client) -> None:
    reply = sign_in(console, "u" * 1_000_000, "some-password")
    assert reply.status_code in (400, 422) and reply.json()["code"] == "HSCLF101"
    assert "user" in reply.json()["message"]
    longest = max(len(line) for line in audited(lab))
    assert longest < 400, f"an audit line of {longest} characters"
    answers(lab)


def test_wrong_passwords_lock_a_user_out_even_with_the_right_one_and_others_sign_in(
        lab: Lab, console: httpx.Client, tmp_path: Path) -> None:
    password = made_user(lab, "limitlock")
    other = made_user(lab, "limitother")
    codes = [code(sign_in(console, "limitlock", f"guess-{n}")) for n in range(10)]
    assert codes == [(401, "HSCLF501")] * 5 + [(429, "HSCLF510")] * 5

    started = time.monotonic()
    refused = sign_in(console, "limitlock", password)
    assert code(refused) == (429, "HSCLF510"), "the right password got through"
    assert time.monotonic() - started < 0.5, "a refusal should not wait for scrypt"
    assert refused.json()["details"]["retry_after_s"] > 0
    assert "limitlock" in refused.json()["message"]
    by_cli = lab.run("openlpm", "login", "-u", "limitlock", stdin=f"{password}\n",
                     env={"OPENLPM_CREDENTIALS": str(tmp_path / "lock.json")}, check=False)
    assert by_cli.returncode == 13 and "HSCLF510" in by_cli.stderr

    assert sign_in(console, "limitother", other).status_code == 200
    answers(lab)
    events = audited(lab)
    assert events.count("limitlock:sign in:refused:HSCLF501") == 5
    assert events.count("limitlock:sign in:refused:HSCLF510") >= 7
    assert "limitother:sign in:done:null" in events


# Runs in a lab namespace: sign-ins to the console's lab address, ``parallel`` at once;
# prints each one's status and code, in the order they were sent.
GUESSES = """
import json, ssl
from concurrent.futures import ThreadPoolExecutor
import httpx
url, ca, attempts, parallel = json.loads({args!r})
def attempt(login):
    reply = httpx.post(url + "/login", json=login, verify=ssl.create_default_context(
        cafile=ca), timeout=120)
    return [reply.status_code, reply.json().get("code")]
with ThreadPoolExecutor(parallel) as pool:
    print(json.dumps(list(pool.map(attempt, attempts))))
"""


def from_lab_address(lab: Lab, namespace: str, attempts: list[dict[str, str]],
                     parallel: int = 1) -> list[tuple[int, str]]:
    """Sign-ins made from a lab system's address (a foothold on the management network),
    to the console's address there."""
    args = json.dumps([f"https://{HMC_ADDRESS}:{PEER_PORT}",
                       str(site.console_certificate(lab.state)), attempts, parallel])
    printed = from_namespace(lab, namespace, GUESSES.format(args=args))
    return [(status, found) for status, found in json.loads(printed)]


def test_one_address_guessing_user_after_user_is_refused_and_other_addresses_are_not(
        lab: Lab, console: httpx.Client) -> None:
    password = made_user(lab, "limitaddr")
    guesses = [{"user": f"nobody{n}-{os.getpid()}", "password": "a-guess"} for n in range(24)]
    codes = from_lab_address(lab, "sys2", guesses, parallel=4)
    assert codes.count((401, "HSCLF501")) <= 20
    assert (429, "HSCLF510") in codes, codes
    right = from_lab_address(lab, "sys2", [{"user": "limitaddr", "password": password}])
    assert right == [(429, "HSCLF510")]
    assert sign_in(console, "limitaddr", password).status_code == 200
    assert "limitaddr:sign in:done:null" in audited(lab)


# Runs in a lab namespace: ``count`` sign-ins of unknown users at once (each costs the
# console a full scrypt), and meanwhile GET /session again and again; prints how long
# the slowest GET took and how many GETs were answered before the sign-ins were done.
STALL = """
import json, ssl, threading, time
import httpx
url, ca, count = json.loads({args!r})
context = ssl.create_default_context(cafile=ca)
done = []
def guess(n):
    reply = httpx.post(url + "/login", json={{"user": f"stall{{n}}", "password": "guess"}},
                       verify=context, timeout=120)
    done.append(reply.status_code)
threads = [threading.Thread(target=guess, args=(n,)) for n in range(count)]
for thread in threads:
    thread.start()
time.sleep(0.3)
slowest, answered = 0.0, 0
with httpx.Client(verify=context, timeout=30) as client:
    while len(done) < count:
        started = time.monotonic()
        client.get(url + "/session")
        slowest = max(slowest, time.monotonic() - started)
        answered += 1
        time.sleep(0.05)
for thread in threads:
    thread.join()
print(json.dumps({{"slowest": slowest, "answered": answered, "statuses": done}}))
"""


def test_sign_ins_at_once_do_not_stall_the_console(lab: Lab) -> None:
    args = json.dumps([f"https://{HMC_ADDRESS}:{PEER_PORT}",
                       str(site.console_certificate(lab.state)), 8])
    seen: dict[str, Any] = json.loads(from_namespace(lab, "sys1", STALL.format(args=args)))
    assert seen["statuses"] == [401] * 8
    # Each sign-in holds scrypt for most of a second: on the event loop, the GETs would
    # have waited for them, one after another.
    assert seen["answered"] >= 5, seen
    assert seen["slowest"] < 1.0, seen


def test_a_viewer_may_sign_out(lab: Lab, tmp_path: Path) -> None:
    password = made_user(lab, "limitbye")
    env = {"OPENLPM_CREDENTIALS": str(tmp_path / "bye.json")}
    lab.run("openlpm", "login", "-u", "limitbye", stdin=f"{password}\n", env=env)
    token = next(iter(json.loads((tmp_path / "bye.json").read_text()).values()))
    out = lab.run("openlpm", "logout", env=env).stdout
    assert "signed out" in out
    gone = httpx.get(f"{lab.state.hmc_url}/login", headers={"Authorization": f"Bearer {token}"},
                     verify=site.console_trust(lab.state))
    assert code(gone) == (401, "HSCLF504")


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_the_api_s_description_is_for_signed_in_users(lab: Lab, console: httpx.Client,
                                                      path: str) -> None:
    assert code(console.get(path)) == (401, "HSCLF502")
    assert f"-:GET {path}:refused:HSCLF502" in audited(lab)
    signed_in = console.get(path, headers=site.console_headers(lab.state))
    assert signed_in.status_code == 200


def test_a_viewer_may_not_use_the_keys_for_another_console(lab: Lab,
                                                            console: httpx.Client) -> None:
    password = made_user(lab, "limitpeek")
    token = sign_in(console, "limitpeek", password).json()["token"]
    path = "/systems/sys1/mover-pairs"
    refused = console.get(path, params={"target": "sys2", "remote_hmc": "hmcb"},
                          headers={"Authorization": f"Bearer {token}"})
    assert code(refused) == (403, "HSCL350B")
    assert "hmcoperator" in refused.json()["message"]
    assert f"limitpeek:GET {path}:refused:HSCL350B" in audited(lab)
    # The same viewer still lists this console's own pairs.
    own = console.get(path, params={"target": "sys2"},
                      headers={"Authorization": f"Bearer {token}"})
    assert own.status_code == 200 and own.json()
