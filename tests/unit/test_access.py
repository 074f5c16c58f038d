"""Access control of the console: who may do what, sessions and tokens, the audit log.

Runs the console's real API in-process (no managed systems are needed to be refused).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openlpm.hmc.access.guard import required_role
from openlpm.hmc.access.passwords import make_hash
from openlpm.hmc.http.app import create_app
from openlpm.hmc.stores.users import Users
from openlpm.model import Role
from tests.unit.signed_in import ADMIN, add_user, audited, sign_in

PROFILE = {"name": "p1", "min_mem": 256, "desired_mem": 256, "max_mem": 256,
           "min_procs": 1, "desired_procs": 1, "max_procs": 1}


@pytest.mark.parametrize(("method", "route", "role"), [
    ("POST", "/login", None),
    ("POST", "/session", None),
    ("GET", "/", None),
    ("GET", "/systems", Role.VIEWER),
    ("GET", "/events", Role.VIEWER),
    ("POST", "/migrations", Role.OPERATOR),
    ("POST", "/validations", Role.OPERATOR),
    ("POST", "/systems/{system}/partitions", Role.OPERATOR),
    ("POST", "/san/luns/{name}/mappings", Role.OPERATOR),
    ("DELETE", "/san/luns/{name}/mappings/{identity}", Role.OPERATOR),
    ("POST", "/san/luns", Role.SUPERADMIN),
    ("DELETE", "/san/luns/{name}", Role.SUPERADMIN),
    ("POST", "/systems", Role.SUPERADMIN),
    ("DELETE", "/systems/{system}", Role.SUPERADMIN),
    ("POST", "/systems/{system}/movers/enroll", Role.SUPERADMIN),
    ("GET", "/sysconns", Role.VIEWER),
    ("POST", "/sysconns", Role.SUPERADMIN),
    ("DELETE", "/sysconns/{ip}", Role.SUPERADMIN),
    ("POST", "/sysconns/{ip}/reset", Role.SUPERADMIN),
    ("GET", "/users", Role.SUPERADMIN),
    ("PATCH", "/users/{name}", Role.SUPERADMIN),
    ("POST", "/tokens", Role.VIEWER),
    ("DELETE", "/tokens/{token_id}", Role.VIEWER),
    ("GET", None, Role.SUPERADMIN),
])
def test_each_route_needs_the_least_role_that_may_call_it(
        method: str, route: str | None, role: Role | None) -> None:
    assert required_role(method, route) == role


def test_every_route_of_the_console_has_its_rule(tmp_path: Path) -> None:
    """The rules name templates as the routes spell them: a rule that matched no route
    would leave its route to the catch-all, which lets operators in."""
    paths = create_app(tmp_path / "hmc.db", name="hmc1").openapi()["paths"]
    routes = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    for method, route in (("DELETE", "/san/luns/{name}"), ("POST", "/san/luns"),
                          ("POST", "/systems"), ("POST", "/systems/{system}/movers/enroll"),
                          ("PATCH", "/users/{name}"), ("POST", "/authkeys"),
                          ("DELETE", "/systems/{system}"), ("POST", "/sysconns"),
                          ("DELETE", "/sysconns/{ip}"), ("POST", "/sysconns/{ip}/reset")):
        assert (method, route) in routes
        assert required_role(method, route) == Role.SUPERADMIN


def test_an_unauthenticated_call_is_refused_and_audited(console: TestClient) -> None:
    reply = console.get("/systems")
    assert reply.status_code == 401 and reply.json()["code"] == "HSCLF502"
    assert "openlpm login" in reply.json()["message"]
    assert ("-", "GET /systems", "refused", "HSCLF502") in audited(console)


def test_a_wrong_password_is_refused_and_audited_under_the_name_given(
        console: TestClient) -> None:
    reply = console.post("/login", json={"user": "hscroot", "password": "guess"})
    assert reply.status_code == 401 and reply.json()["code"] == "HSCLF501"
    assert ("hscroot", "sign in", "refused", "HSCLF501") in audited(console)


def test_a_viewer_may_look_but_not_change(console: TestClient) -> None:
    viewer = add_user(console, "ann", Role.VIEWER)
    assert console.get("/systems", headers=viewer).status_code == 200
    refused = console.post("/systems/sys1/partitions", headers=viewer, json=PROFILE)
    assert refused.status_code == 403 and refused.json()["code"] == "HSCL350B"
    assert "hmcoperator" in refused.json()["message"]
    refused = console.post("/migrations", headers=viewer, json={
        "source": "sys1", "target": "sys2", "partition": "p1"})
    assert refused.status_code == 403
    assert ("ann", "POST /migrations", "refused", "HSCL350B") in audited(console)


def test_an_operator_may_operate_but_not_manage_users_or_systems(console: TestClient) -> None:
    operator = add_user(console, "bob", Role.OPERATOR)
    # Allowed through: what is refused next is the unknown system, not the user.
    reply = console.post("/systems/sys9/partitions", headers=operator, json=PROFILE)
    assert reply.json()["code"] == "HSCLF162"
    assert ("bob", "POST /systems/sys9/partitions", "failed", "HSCLF162") in audited(console)
    for method, path in (("GET", "/users"), ("POST", "/systems")):
        assert console.request(method, path, headers=operator,
                               json={}).json()["code"] == "HSCL350B"


def test_an_api_token_works_until_it_is_removed(console: TestClient) -> None:
    viewer = add_user(console, "ci", Role.VIEWER)
    created = console.post("/tokens", headers=viewer, json={"name": "nightly"}).json()
    token = {"Authorization": f"Bearer {created['secret']}"}
    assert console.get("/systems", headers=token).status_code == 200
    listed = console.get("/tokens", headers=token).json()
    assert [t["name"] for t in listed] == ["nightly"] and "secret" not in listed[0]
    console.delete(f"/tokens/{created['token']['id']}", headers=viewer)
    assert console.get("/systems", headers=token).json()["code"] == "HSCLF504"


def test_a_new_password_ends_the_user_s_sessions(console: TestClient) -> None:
    viewer = add_user(console, "dee", Role.VIEWER)
    admin = sign_in(console, *ADMIN)
    console.patch("/users/dee", headers=admin, json={"password": "another-password"})
    assert console.get("/systems", headers=viewer).json()["code"] == "HSCLF504"
    sign_in(console, "dee", "another-password")


def test_the_web_console_s_cookie_signs_requests_in(console: TestClient) -> None:
    add_user(console, "eve", Role.OPERATOR)
    reply = console.post("/session", json={"user": "eve", "password": "eve-password"})
    assert reply.json()["role"] == "hmcoperator"
    assert console.get("/systems").status_code == 200
    console.delete("/session")
    assert console.get("/systems").status_code == 401


def test_nothing_secret_is_stored_or_logged(console: TestClient, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    viewer = add_user(console, "fay", Role.VIEWER)
    secret = console.post("/tokens", headers=viewer, json={"name": "t"}).json()["secret"]
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("hmc.db*"))
    for needle in ("fay-password", ADMIN[1], secret, viewer["Authorization"][7:]):
        assert needle.encode() not in stored
        assert needle not in caplog.text
        assert all(needle not in str(event) for event in audited(console))


def test_sessions_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = Users(tmp_path / "u.db")
    users.create("gil", Role.VIEWER, make_hash("gil-password"))
    token, _ = users.open_session("gil")
    later = time.time() + 13 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Exception, match="HSCLF504"):
        users.identify(token)


def test_a_short_password_is_refused(console: TestClient) -> None:
    admin = sign_in(console, *ADMIN)
    reply = console.post("/users", headers=admin, json={
        "name": "hal", "role": "hmcviewer", "password": "short"})
    assert reply.status_code == 400 and reply.json()["code"] == "HSCLF511"


@pytest.mark.parametrize("path", [
    "/san/luns/l1/mappings/%2e%2e", "/san/luns/l1/mappings/%2E%2E",
    "/san/luns/l1/mappings/%2F", "/san/luns/l1/mappings/..%2F..",
    "/san/luns/l1/mappings/..%2f..%2fl1", "/san/luns/l1/mappings/%2e%2e%2F%2e%2e"])
def test_an_encoded_path_in_a_value_cannot_reach_another_route(
        console: TestClient, path: str) -> None:
    """DELETE of a mapping named '..' once reached the SAN as DELETE /luns/l1 (the
    LUN itself, which only a super administrator may delete)."""
    operator = add_user(console, "ivy", Role.OPERATOR)
    reply = console.delete(path, headers=operator)
    assert reply.status_code in (400, 404, 405), reply.text
    assert reply.json()["code"] in ("HSCLF531", "HSCLF532")
    assert any(user == "ivy" and action.startswith("DELETE /san/luns/l1")
               and result == "refused" for user, action, result, _ in audited(console))


def test_a_role_is_decided_by_the_route_not_the_path_sent(console: TestClient) -> None:
    operator = add_user(console, "joe", Role.OPERATOR)
    admin = sign_in(console, *ADMIN)
    # The LUN's own route, whatever its name looks like: a super administrator's.
    reply = console.delete("/san/luns/%2e%2e", headers=operator)
    assert reply.status_code == 403 and reply.json()["code"] == "HSCL350B"
    reply = console.delete("/san/luns/%2e%2e", headers=admin)
    assert reply.status_code == 400 and reply.json()["code"] == "HSCLF531"
    assert ("hscroot", "DELETE /san/luns/..", "refused", "HSCLF531") in audited(console)


def test_a_request_no_route_takes_is_refused_and_a_change_audited(
        console: TestClient) -> None:
    viewer = add_user(console, "kim", Role.VIEWER)
    reply = console.get("/no-such-page", headers=viewer)
    assert reply.status_code == 404 and reply.json()["code"] == "HSCLF532"
    reply = console.put("/systems", headers=viewer)
    assert reply.status_code == 405 and reply.json()["code"] == "HSCLF532"
    assert "POST" in reply.headers["allow"]
    logged = audited(console)
    assert ("kim", "PUT /systems", "refused", "HSCLF532") in logged
    assert not any(action == "GET /no-such-page" for _, action, _, _ in logged)
