"""The console's API before signing in: body and field limits, and an audit log whose
rows stay small (in-process, no systems)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openlpm.hmc.api import create_app

ADMIN = ("hscroot", "first-password")


@pytest.fixture
def console(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path / "hmc.db", name="hmc1", first_admin=ADMIN)) as client:
        yield client


def sign_in(console: TestClient, user: str, password: str) -> dict[str, str]:
    reply = console.post("/login", json={"user": user, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def audit(console: TestClient) -> list[tuple[str, str, str, str | None]]:
    admin = sign_in(console, *ADMIN)
    return [(e["user"], e["action"], e["result"], e["code"])
            for e in console.get("/audit", headers=admin).json()]


def test_a_body_over_a_mebibyte_is_refused_and_audited(console: TestClient) -> None:
    reply = console.post("/login", content=b"{" + b" " * (2 << 20) + b"}",
                         headers={"content-type": "application/json"})
    assert reply.status_code == 413 and reply.json()["code"] == "HSCLF517"
    assert ("-", "POST /login", "refused", "HSCLF517") in audit(console)


def test_a_huge_user_name_is_refused_at_the_wire_and_never_audited(
        console: TestClient) -> None:
    reply = console.post("/login", json={"user": "u" * 1_000_000, "password": "x"})
    assert reply.status_code == 400 and reply.json()["code"] == "HSCLF101"
    assert "user" in reply.json()["message"]
    assert all(len(user) <= 64 for user, *_ in audit(console))


def test_the_audit_log_cuts_a_long_action(console: TestClient) -> None:
    console.delete("/tokens/" + "t" * 5000)
    logged = [action for _, action, *_ in audit(console) if action.startswith("DELETE /tok")]
    assert logged and all(len(action) == 256 and action.endswith("…") for action in logged)
