"""Users' SSH keys (``mkauthkeys -a``/``-r``, ``lsauthkeys``): what the store takes, and
who may manage whose keys through the console's API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from fastapi.testclient import TestClient

from openlpm.errors import ObjectExists, ObjectNotFound, RequestInvalid, WrongState
from openlpm.hmc.access.guard import required_role
from openlpm.hmc.stores.users import KEYS_MAX, Users
from openlpm.model import Role
from tests.unit.signed_in import ADMIN, add_user, audited, sign_in


def public_line(kind: str = "ssh-ed25519", comment: str = "ann@laptop", **kw: int) -> str:
    key = asyncssh.generate_private_key(kind, comment=comment or None, **kw)
    return key.export_public_key().decode().strip()


ED25519 = public_line()
ECDSA = public_line("ecdsa-sha2-nistp256", "ci@runner")


@pytest.fixture
def users(tmp_path: Path) -> Iterator[Users]:
    store = Users(tmp_path / "hmc.db")
    store.create("ann", Role.VIEWER, "x")
    yield store
    store.close()


def test_a_key_is_kept_with_its_type_fingerprint_and_comment(users: Users) -> None:
    added = users.add_key("ann", ED25519 + "\n")
    assert (added.user, added.type, added.comment) == ("ann", "ssh-ed25519", "ann@laptop")
    assert added.fingerprint.startswith("SHA256:") and added.key == ED25519
    assert users.keys("ann") == [added]
    assert users.authorized_keys("ann") == [" ".join(ED25519.split()[:2])]


@pytest.mark.parametrize(("line", "code"), [
    ('command="/bin/sh" ' + ED25519, "HSCLF542"),
    ('from="10.0.0.1",no-pty ' + ED25519, "HSCLF542"),
    ("no-pty " + ED25519, "HSCLF542"),
    ("ssh-ed25519 AAAA!!!notbase64 x", "HSCLF542"),
    ("ssh-ed25519 " + ECDSA.split()[1] + " mixed", "HSCLF542"),
    (ED25519 + "\nssh-ed25519 AAAA second", "HSCLF542"),
    (ED25519 + " \x1b[31mred", "HSCLF542"),
    ("ssh-ed25519", "HSCLF542"),
    ("ssh-ed25519 " + "A" * 9000, "HSCLF542"),
    ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "HSCLF543"),
    ("sk-ssh-ed25519@openssh.com AAAA x", "HSCLF543"),
])
def test_a_line_that_is_not_a_plain_public_key_is_refused(
        users: Users, line: str, code: str) -> None:
    with pytest.raises(RequestInvalid) as refused:
        users.add_key("ann", line)
    assert refused.value.code == code
    assert users.keys("ann") == []


def test_an_rsa_key_under_2048_bits_is_refused(users: Users) -> None:
    with pytest.raises(RequestInvalid) as refused:
        users.add_key("ann", public_line("ssh-rsa", key_size=1024))
    assert refused.value.code == "HSCLF543" and "1024" in refused.value.message
    assert users.add_key("ann", public_line("ssh-rsa", key_size=2048)).type == "ssh-rsa"


def test_the_comment_is_made_one_printable_line(users: Users) -> None:
    added = users.add_key("ann", ED25519.rsplit(" ", 1)[0] + " ann  at\tthe   office ")
    assert added.comment == "ann at the office"


def test_the_same_key_twice_and_the_hundred_and_first_are_refused(users: Users) -> None:
    users.add_key("ann", ED25519)
    with pytest.raises(ObjectExists) as twice:
        users.add_key("ann", ED25519.rsplit(" ", 1)[0] + " another comment")
    assert twice.value.code == "HSCLF544"
    for _ in range(KEYS_MAX - 1):
        users.add_key("ann", public_line(comment=""))
    with pytest.raises(WrongState) as full:
        users.add_key("ann", ECDSA)
    assert full.value.code == "HSCLF545"


def test_a_key_is_removed_by_its_line_comment_base64_or_fingerprint(users: Users) -> None:
    first = users.add_key("ann", ED25519)
    users.add_key("ann", ECDSA)
    assert users.remove_key("ann", "ann@laptop") == 1
    assert [k.comment for k in users.keys("ann")] == ["ci@runner"]
    with pytest.raises(ObjectNotFound) as none:
        users.remove_key("ann", first.fingerprint)
    assert none.value.code == "HSCLF549"
    for match in (ED25519, ED25519.split()[1], first.fingerprint):
        users.add_key("ann", ED25519)
        assert users.remove_key("ann", match) == 1
    assert users.remove_key("ann", ECDSA.rsplit(" ", 1)[0]) == 1


def test_keys_go_with_their_user(users: Users) -> None:
    users.add_key("ann", ED25519)
    users.remove("ann")
    assert users.authorized_keys("ann") == []
    users.create("ann", Role.VIEWER, "x")
    assert users.keys("ann") == []


def test_keys_of_no_such_user(users: Users) -> None:
    with pytest.raises(ObjectNotFound):
        users.add_key("nobody", ED25519)
    assert users.authorized_keys("nobody") == []


# -- the API ------------------------------------------------------------------------------

def test_the_routes_of_keys_let_any_signed_in_user_in() -> None:
    for method in ("GET", "POST", "DELETE"):
        assert required_role(method, "/users/{name}/keys") == Role.VIEWER
    assert required_role("GET", "/whoami") == Role.VIEWER
    assert required_role("PATCH", "/users/{name}") == Role.SUPERADMIN


def test_a_viewer_manages_its_own_keys(console: TestClient) -> None:
    viewer = add_user(console, "ann", Role.VIEWER)
    assert console.get("/whoami", headers=viewer).json()["name"] == "ann"
    added = console.post("/users/ann/keys", headers=viewer, json={"key": ED25519})
    assert added.status_code == 201, added.text
    listed = console.get("/users/ann/keys", headers=viewer).json()
    assert [k["fingerprint"] for k in listed] == [added.json()["fingerprint"]]
    gone = console.delete("/users/ann/keys", headers=viewer, params={"match": "ann@laptop"})
    assert gone.status_code == 204
    assert console.get("/users/ann/keys", headers=viewer).json() == []
    assert ("ann", "POST /users/ann/keys", "done", None) in audited(console)
    assert ("ann", "DELETE /users/ann/keys", "done", None) in audited(console)


def test_a_viewer_may_not_add_a_key_for_hscroot(console: TestClient) -> None:
    viewer = add_user(console, "ann", Role.VIEWER)
    for method, body in (("POST", {"key": ED25519}), ("GET", None), ("DELETE", None)):
        refused = console.request(method, "/users/hscroot/keys", headers=viewer, json=body,
                                  params={"match": "x"} if method == "DELETE" else None)
        assert refused.status_code == 403 and refused.json()["code"] == "HSCL350B"
        assert "own SSH keys" in refused.json()["message"]
    assert ("ann", "POST /users/hscroot/keys", "refused", "HSCL350B") in audited(console)
    admin = sign_in(console, *ADMIN)
    assert console.get("/users/hscroot/keys", headers=admin).json() == []


def test_a_super_administrator_manages_anyone_s_keys(console: TestClient) -> None:
    add_user(console, "bob", Role.OPERATOR)
    admin = sign_in(console, *ADMIN)
    assert console.post("/users/bob/keys", headers=admin,
                        json={"key": ECDSA}).status_code == 201
    assert console.delete("/users/bob/keys", headers=admin,
                          params={"match": "ci@runner"}).status_code == 204
    missing = console.post("/users/nobody/keys", headers=admin, json={"key": ECDSA})
    assert missing.status_code == 404 and missing.json()["code"] == "HSCLF513"


def test_a_hostile_line_is_refused_through_the_api_and_audited(console: TestClient) -> None:
    viewer = add_user(console, "ann", Role.VIEWER)
    refused = console.post("/users/ann/keys", headers=viewer,
                           json={"key": 'command="sh" ' + ED25519})
    assert refused.status_code == 400 and refused.json()["code"] == "HSCLF542"
    too_long = console.post("/users/ann/keys", headers=viewer, json={"key": "A" * 9000})
    assert too_long.status_code == 400
    assert ("ann", "POST /users/ann/keys", "failed", "HSCLF542") in audited(console)
