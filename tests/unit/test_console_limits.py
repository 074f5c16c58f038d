"""The console's API before and around signing in: body and field limits, the API's
description, signing out, and the keys for another console (in-process, no systems)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openlpm.model import Role
from tests.unit.signed_in import add_user, audited


def test_a_body_over_a_mebibyte_is_refused_and_audited(console: TestClient) -> None:
    reply = console.post("/login", content=b"{" + b" " * (2 << 20) + b"}",
                         headers={"content-type": "application/json"})
    assert reply.status_code == 413 and reply.json()["code"] == "HSCLF517"
    assert ("-", "POST /login", "refused", "HSCLF517") in audited(console)


def test_a_huge_user_name_is_refused_at_the_wire_and_never_audited(
        console: TestClient) -> None:
    reply = console.post("/login", json={"user": "u" * 1_000_000, "password": "x"})
    assert reply.status_code == 400 and reply.json()["code"] == "HSCLF101"
    assert "user" in reply.json()["message"]
    assert all(len(user) <= 64 for user, *_ in audited(console))


def test_the_audit_log_cuts_a_long_action(console: TestClient) -> None:
    console.delete("/tokens/" + "t" * 5000)
    logged = [action for _, action, *_ in audited(console) if action.startswith("DELETE /tok")]
    assert logged and all(len(action) == 256 and action.endswith("…") for action in logged)


def test_a_viewer_may_sign_out(console: TestClient) -> None:
    viewer = add_user(console, "ann", Role.VIEWER)
    assert console.delete("/login", headers=viewer).status_code == 204
    assert console.get("/systems", headers=viewer).json()["code"] == "HSCLF504"


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_the_api_s_description_needs_a_signed_in_user(console: TestClient,
                                                      path: str) -> None:
    refused = console.get(path)
    assert refused.status_code == 401 and refused.json()["code"] == "HSCLF502"
    viewer = add_user(console, "ann", Role.VIEWER)
    assert console.get(path, headers=viewer).status_code == 200


def test_the_api_s_description_still_lists_the_routes(console: TestClient) -> None:
    viewer = add_user(console, "ann", Role.VIEWER)
    paths = console.get("/openapi.json", headers=viewer).json()["paths"]
    assert "/systems/{system}/mover-pairs" in paths and "/openapi.json" not in paths


def test_only_an_operator_may_use_the_keys_for_another_console(console: TestClient) -> None:
    viewer = add_user(console, "ann", Role.VIEWER)
    path = "/systems/sys1/mover-pairs"
    refused = console.get(path, params={"target": "sys2", "remote_hmc": "hmc9"},
                          headers=viewer)
    assert refused.status_code == 403 and refused.json()["code"] == "HSCL350B"
    assert "hmcoperator" in refused.json()["message"]
    assert ("ann", f"GET {path}", "refused", "HSCL350B") in audited(console)
    # Without remote_hmc, a viewer may list this console's own pairs (sys1 is unknown).
    assert console.get(path, params={"target": "sys2"}, headers=viewer).status_code == 404
    operator = add_user(console, "bob", Role.OPERATOR)
    passed = console.get(path, params={"target": "sys2", "remote_hmc": "hmc9"},
                         headers=operator)
    assert passed.json()["code"] == "HSCLF520"
