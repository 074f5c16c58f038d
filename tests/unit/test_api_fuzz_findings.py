"""What fuzzing the console's API found (tests/security/test_api_fuzz.py), each kept here
as one request: a body that is not JSON, an agent URL or a console address that the
console's clients cannot read. Each is an openlpm error, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openlpm.model import Role
from tests.unit.signed_in import ADMIN, add_user, audited, sign_in


def test_a_body_that_is_not_json_is_an_openlpm_error(console: TestClient) -> None:
    reply = console.post("/tokens", content=b"\xff{", headers={
        **sign_in(console, *ADMIN), "Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["code"] == "HSCLF101"
    assert reply.json()["kind"] == "RequestInvalid"


def test_a_viewer_s_change_with_a_body_that_is_not_json_is_refused_and_audited(
        console: TestClient) -> None:
    """FastAPI reads the body before the guard runs: the refusal is audited all the same."""
    viewer = add_user(console, "viewer1", Role.VIEWER)
    reply = console.post("/san/luns", headers={**viewer, "Content-Type": "application/json"},
                         content=b"\x80\x01")
    assert reply.status_code == 400
    assert reply.json()["code"] == "HSCLF101"
    assert ("viewer1", "POST /san/luns", "refused", "HSCLF101") in audited(console)


@pytest.mark.parametrize("url", ["\x00", "http://a\x10b", "abc", "ftp://agent:8470", "http://"])
def test_an_agent_url_the_console_cannot_read_is_refused(console: TestClient,
                                                         url: str) -> None:
    admin = sign_in(console, *ADMIN)
    reply = console.post("/systems", headers=admin, json={"name": "sys9", "agent_url": url})
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "HSCLF101"
    assert "agent_url" in reply.json()["message"]
    assert console.get("/systems", headers=admin).json() == []


def test_an_agent_that_does_not_answer_is_still_added(console: TestClient) -> None:
    """The control: a URL that reads well is taken, its system No Connection."""
    admin = sign_in(console, *ADMIN)
    reply = console.post("/systems", headers=admin,
                         json={"name": "sys9", "agent_url": "http://127.0.0.1:9"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "No Connection"


@pytest.mark.parametrize("ip", ["[", "host:port", "host:99999", "a..b", "\x80", "é\x9b"])
def test_a_console_address_no_console_can_have_is_refused(console: TestClient,
                                                          ip: str) -> None:
    """Refused before any lookup or connection (IDNA refuses such names), and before a
    password is sent anywhere."""
    admin = sign_in(console, *ADMIN)
    met = console.get("/authkeys/certificate", headers=admin, params={"ip": ip})
    assert met.status_code == 400, met.text
    assert met.json()["code"] == "HSCLF540"
    exchange = console.post("/authkeys", headers=admin,
                            json={"ip": ip, "user": "hscroot", "password": "their-password"})
    assert exchange.status_code == 400, exchange.text
    assert exchange.json()["code"] == "HSCLF540"
    assert console.get("/authkeys", headers=admin).json() == []
