"""A console in this process (an empty database, no managed systems) and its users, for
unit tests of the API: sign in, add a user with a role, read the audit log."""

from __future__ import annotations

from fastapi.testclient import TestClient

from openlpm.model import Role

ADMIN = ("hscroot", "first-password")

Event = tuple[str, str, str, str | None]


def sign_in(console: TestClient, user: str, password: str) -> dict[str, str]:
    reply = console.post("/login", json={"user": user, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def add_user(console: TestClient, name: str, role: Role) -> dict[str, str]:
    """Headers of a new user ``name`` (password ``NAME-password``), signed in."""
    reply = console.post("/users", headers=sign_in(console, *ADMIN), json={
        "name": name, "role": role.value, "password": f"{name}-password"})
    assert reply.status_code == 201, reply.text
    return sign_in(console, name, f"{name}-password")


def audited(console: TestClient) -> list[Event]:
    """The audit log as (user, action, result, code)."""
    events = console.get("/audit", headers=sign_in(console, *ADMIN)).json()
    return [(e["user"], e["action"], e["result"], e["code"]) for e in events]
