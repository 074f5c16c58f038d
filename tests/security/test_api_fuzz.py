"""The console's API fuzzed as each role: no server error, no change a role may not make.

Schemathesis reads the console's own API description (GET /openapi.json, which needs a
signed-in user) and makes requests from it, valid and invalid, to every operation, as a
viewer, an operator and a super administrator in turn. The console runs in-process
against a new database with no managed system, SAN or remote console, and no request
reaches the network (every address refuses at once): quick, repeatable, no root.

Every answer is a success or an openlpm error (``{"code": "HSCL...", "message": ...}``),
never a 500 or a bare traceback. No request of a role succeeds at a change its role may
not make, and every change the audit log has as ``done`` is one the role may make. For
the two weaker roles, what a change would show (users, managed systems, remote consoles,
LUNs, the other users' API tokens; for a viewer, migrations too) is read as hscroot
before and after: a viewer changes only its own API tokens, an operator nothing that
needs a super administrator.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python import asgi

from openlpm.hmc.access import passwords
from openlpm.hmc.access.guard import RANKS, RULES, required_role
from openlpm.hmc.http.app import create_app
from openlpm.model import Role

ADMIN = ("hscroot", "first-password")
# Examples per operation: for one the role may call, and for one its guard refuses
# before reading anything (what matters there is that it is refused and audited). With
# ~60 operations and three roles the file runs in about a minute on two cores.
# Derandomized: the same requests every run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
REFUSED_EXAMPLES = 5
# A request the console does not answer in this long is a failure of its own.
REQUEST_TIMEOUT_S = 10.0
# Left out of the fuzzing, each for a reason:
SKIPPED = {
    # Signs the fuzzing user's own session out, and every request after would be
    # refused: signing out is tried once per role at the end instead.
    ("DELETE", "/login"),
    # Signing in with made-up users and passwords only meets the throttle (HSCLF510,
    # 429): its limits have tests of their own (test_sign_in_limits, test_sign_in).
    ("POST", "/login"),
    ("POST", "/session"),
    # Server-Sent Events that never end (a keep-alive every 15 s).
    ("GET", "/events"),
}
# What a console with no managed system, SAN or remote console may answer 5xx with:
# that the system, SAN or console a request names did not answer (here nothing
# answers: see no_network). Any other 5xx, and any 500, is a failure.
UNREACHABLE = {502: {"HypervisorError", "SystemUnreachable"}, 503: {"SystemUnreachable"},
               504: {"SystemUnreachable"}}


@dataclass
class Console:
    app: Any
    client: asgi.ASGIClient
    schema: schemathesis.BaseSchema
    tokens: dict[str, dict[str, str]]

    def get(self, path: str, user: str = ADMIN[0]) -> Any:
        reply = self.client.get(path, headers=self.tokens[user], timeout=REQUEST_TIMEOUT_S)
        return reply.status_code, reply.json()


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords hashed at N=2^10, not the real 2^17 (most of a second each), as in
    the unit tests: users are made and sign in here, and the fuzzer makes more."""
    monkeypatch.setattr(passwords, "COST", passwords.Cost(10, 8, 1))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No name is looked up and every connection is refused at once: a made-up agent URL
    or console address never reaches the network, nor waits for it. Names are still
    parsed as for real (an IP address resolves; a name too long for IDNA is an error)."""
    lookup = socket.getaddrinfo

    def numeric_only(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                     flags: int = 0) -> Any:
        return lookup(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    def refuse(*_: Any, **__: Any) -> Any:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def console(tmp_path: Path, no_network: None) -> Iterator[Console]:
    """A new console, hscroot, and a user of each role signed in (fuzzroot is the super
    administrator that fuzzes, so hscroot's session stays for reading)."""
    app = create_app(tmp_path / "hmc.db", name="hmc1", first_admin=ADMIN)
    # Schemathesis' in-process client starts the app's lifespan once, and ends it when
    # the test does (its pytest plugin), or here.
    with asgi.get_client(app) as client:
        tokens = {ADMIN[0]: sign_in(client, *ADMIN)}
        for user, role in (("viewer1", Role.VIEWER), ("operator1", Role.OPERATOR),
                           ("fuzzroot", Role.SUPERADMIN)):
            made = client.post("/users", headers=tokens[ADMIN[0]], json={
                "name": user, "role": role.value, "password": f"{user}-password"})
            assert made.status_code == 201, made.text
            tokens[user] = sign_in(client, user, f"{user}-password")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app,
                                                headers=tokens[ADMIN[0]])
        try:
            yield Console(app, client, schema, tokens)
        finally:
            asgi.shutdown_lifespans()


def sign_in(client: requests.Session, user: str, password: str) -> dict[str, str]:
    reply = client.post("/login", json={"user": user, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def operations(console: Console) -> list[Any]:
    found = [result.ok() for result in console.schema.get_all_operations()]
    assert len(found) > 50, "the console's API description lost its operations"
    return [op for op in found if (op.method.upper(), op.path) not in SKIPPED]


def cases(operation: Any) -> st.SearchStrategy[Any]:
    """Valid requests, and invalid ones where the operation takes anything to spoil."""
    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    if not (operation.body or operation.query or operation.path_parameters):
        return positive
    return st.one_of(positive,
                     operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))


def rule_for_path(method: str, path: str) -> Role | None:
    """The least role for a request to ``path`` itself (as the audit log writes it), by
    the console's RULES with each "{}" taken as one segment of the path."""
    for wanted, pattern, role in RULES:
        if wanted in ("*", method) and re.fullmatch(pattern.replace("{}", "[^/]+"), path):
            return role
    return Role.SUPERADMIN


def answer_problems(status: int, body: bytes, content_type: str) -> list[str]:
    """What is wrong with an answer: a 500, a 5xx that is not an unreachable system, or
    an error whose body is not an openlpm error."""
    if status < 400:
        return []
    try:
        error = json.loads(body)
    except ValueError:
        return [f"HTTP {status} with a body that is not JSON ({content_type}): {body[:200]!r}"]
    if not (isinstance(error, dict) and str(error.get("code", "")).startswith("HSCL")
            and isinstance(error.get("message"), str)):
        return [f"HTTP {status} with a body that is not an openlpm error: {error!r:.300}"]
    if status >= 500 and error.get("kind") not in UNREACHABLE.get(status, set()):
        return [f"HTTP {status} {error['kind']} {error['code']}: {error['message']}"]
    return []


def allowed(role: Role, needed: Role | None) -> bool:
    return needed is None or RANKS[role] >= RANKS[needed]


def snapshot(console: Console, fuzzing: str, role: Role) -> dict[str, Any]:
    """What a change the role may not make would show, read as hscroot, and the API
    tokens of each user but ``fuzzing`` (each user may make and remove its own). This
    console has no SAN: /san/luns answers its WrongState (HSCLF610), which must stay."""
    paths = ["/users", "/systems", "/authkeys", "/san/luns"]
    if role == Role.VIEWER:
        paths.append("/migrations")
    seen = {path: console.get(path) for path in paths}
    for user in console.tokens:
        if user != fuzzing:
            seen[f"tokens of {user}"] = console.get("/tokens", user)
    return seen


def done_events(console: Console) -> list[dict[str, Any]]:
    _, events = console.get("/audit")
    return [event for event in events if event["result"] == "done"]


def sent(case: Any) -> str:
    """The request, to repeat it (as_curl_command fails on some of what is sent)."""
    return (f"{case.method.upper()} {case.formatted_path} query={case.query!r:.200} "
            f"body={case.body!r:.300}")


def fuzz(console: Console, operation: Any, user: str, role: Role) -> list[str]:
    """Fuzz one operation as ``user``; what went wrong, with a request to repeat it."""
    problems: list[str] = []
    auth = console.tokens[user]
    needed = required_role(operation.method.upper(), operation.path)

    @settings(max_examples=EXAMPLES if allowed(role, needed) else REFUSED_EXAMPLES,
              derandomize=True, database=None, deadline=timedelta(seconds=5),
              print_blob=False, suppress_health_check=list(HealthCheck))
    @given(case=cases(operation))
    def each(case: Any) -> None:
        try:
            response = case.call(session=console.client, headers=auth,
                                 timeout=REQUEST_TIMEOUT_S)
        except Exception as exc:  # the app raised: its client re-raises what it sent as 500
            problems.append(f"unhandled {type(exc).__name__}: {exc}\n    {sent(case)}")
            return
        found = answer_problems(response.status_code, response.content,
                                response.headers.get("content-type", [""])[0])
        if response.status_code < 300 and case.method.upper() not in ("GET", "HEAD") \
                and not allowed(role, needed):
            found.append(f"HTTP {response.status_code}: a {role.value} made a change "
                         f"that needs {needed.value}")
        problems.extend(f"{problem}\n    {sent(case)}" for problem in found)

    each()
    return problems


@pytest.mark.parametrize(("user", "role"), [
    ("viewer1", Role.VIEWER), ("operator1", Role.OPERATOR), ("fuzzroot", Role.SUPERADMIN)])
def test_the_api_fuzzed_as_each_role_answers_and_changes_only_what_the_role_may(
        console: Console, user: str, role: Role) -> None:
    before, seen = snapshot(console, user, role), len(done_events(console))
    problems: list[str] = []
    for operation in operations(console):
        problems += [f"{operation.method.upper()} {operation.path}: {problem}"
                     for problem in fuzz(console, operation, user, role)]
    if role != Role.SUPERADMIN:
        after = snapshot(console, user, role)
        problems += [f"{what} changed: {before[what]!r:.300} -> {after[what]!r:.300}"
                     for what in before if before[what] != after[what]]
    # Each change is audited as done: by this user, and one its role may make.
    for event in done_events(console)[seen:]:
        method, _, path = event["action"].partition(" ")
        if event["user"] != user or not allowed(role, rule_for_path(method, path)):
            problems.append(f"audited as done: {event}")
    # The one operation left out for the user's sake: signing itself out.
    assert console.client.delete("/login", headers=console.tokens[user]).status_code == 204
    assert console.client.get("/login", headers=console.tokens[user]).status_code == 401
    assert not problems, "\n".join(problems)
