"""Trust between consoles: the keys this console holds for others, the authorities it
trusts, and what another console may ask of it (the console's API in-process)."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openlpm.authority import CertificateAuthority, subject_addresses
from openlpm.errors import RequestInvalid
from openlpm.hmc.http.app import create_app
from openlpm.hmc.site.identity import ConsoleIdentity
from openlpm.hmc.stores.consoles import Consoles, console_url
from openlpm.model import MigrationKind, MigrationRecord, MigrationState

ADMIN = ("hscroot", "first-password")


@pytest.mark.parametrize(("ip", "url"), [
    ("198.18.0.5", "https://198.18.0.5:8480"),
    ("hmcb.example.com:9000", "https://hmcb.example.com:9000"),
    ("https://hmcb.example.com/", "https://hmcb.example.com"),
])
def test_ip_names_a_console_by_host_host_and_port_or_url(ip: str, url: str) -> None:
    assert console_url(ip) == url


@pytest.mark.parametrize("ip", ["http://hmcb.example.com", "ftp://hmcb", "file:///etc"])
def test_ip_never_names_a_console_without_https(ip: str) -> None:
    with pytest.raises(RequestInvalid) as refused:
        console_url(ip)
    assert refused.value.code == "HSCLF540"


def test_keys_are_found_by_the_remote_console_s_name_or_address_and_user(
        tmp_path: Path) -> None:
    consoles = Consoles(tmp_path / "hmc.db")
    authority = CertificateAuthority(tmp_path / "b", "hmcb mover authority")
    consoles.add_remote("hmcb", "https://198.18.0.5:8480", "op", "olpm_secret",
                        authority.certificate_pem, None)

    [found] = consoles.find("hmcb", None)
    assert consoles.find("198.18.0.5", "op") == [found]
    assert consoles.find("hmcb", "someone") == []
    assert found.mover_authority_fingerprint == authority.fingerprint
    assert "olpm_secret" not in found.model_dump_json()
    assert consoles.credentials(found) == ("olpm_secret", None)
    assert consoles.peer_authorities() == (authority.certificate_pem,)

    consoles.remove_remote("hmcb", "op")
    assert consoles.remotes() == []


@pytest.fixture
def console(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path / "hmc.db", name="hmcb", first_admin=ADMIN)) as client:
        token = client.post("/login", json={"user": ADMIN[0], "password": ADMIN[1]}).json()
        client.headers["Authorization"] = f"Bearer {token['token']}"
        yield client


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/peer/systems/sys2/agent/partitions/web1/activate"),
    ("DELETE", "/peer/systems/sys2/agent/system"),
    ("POST", "/peer/systems/sys2/movers/msp1/channels/outgoing"),
])
def test_another_console_may_make_only_a_migration_s_calls(
        console: TestClient, method: str, path: str) -> None:
    refused = console.request(method, path, json={})
    assert refused.status_code == 403
    assert refused.json()["code"] == "HSCLF525"


def test_another_console_changes_a_system_only_for_a_migration_it_announced(
        console: TestClient) -> None:
    refused = console.delete("/peer/systems/sys2/agent/partitions/web1")
    assert refused.status_code == 403
    assert "No migration of web1 to sys2" in refused.json()["message"]


@pytest.mark.parametrize("path", [
    "partitions/%2e%2e", "partitions/web1/%2e%2e/%2e%2e/system/maintenance",
    "partitions/web1/%2e/console"])
def test_a_call_passed_on_to_an_agent_stays_on_its_path(console: TestClient,
                                                        path: str) -> None:
    refused = console.get(f"/peer/systems/sys2/agent/{path}")
    assert refused.status_code == 400
    assert refused.json()["code"] == "HSCLF530"


def test_a_migration_record_is_taken_only_for_a_system_of_this_console(
        console: TestClient) -> None:
    record = MigrationRecord(id="m1", partition="web1", source="sys1", target="sys2",
                             kind=MigrationKind.ACTIVE, state=MigrationState.IN_PROGRESS,
                             started=time.time(), driven_by="hmca")
    refused = console.put("/peer/migrations/m1", json=record.model_dump(mode="json"))
    assert refused.status_code == 404
    assert console.get("/migrations").json() == []


def test_a_peer_s_mover_authority_must_be_a_certificate(console: TestClient) -> None:
    refused = console.post("/peer/trust", json={"console": "hmca",
                                                "mover_authority": "not a certificate"})
    assert refused.json()["code"] == "HSCLF524"


def test_a_console_s_certificate_names_it_and_its_addresses_and_follows_them(
        tmp_path: Path) -> None:
    first = ConsoleIdentity(tmp_path, "hmca", ("127.0.0.1", "198.18.0.2"))
    pem = first.certificate.read_text()
    assert subject_addresses(pem) == {"hmca", "127.0.0.1", "198.18.0.2"}
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    assert ConsoleIdentity(tmp_path, "hmca", ("127.0.0.1", "198.18.0.2")).fingerprint == \
        first.fingerprint, "a restart keeps the certificate its clients pinned"
    moved = ConsoleIdentity(tmp_path, "hmca", ("127.0.0.1", "198.18.0.9"))
    assert subject_addresses(moved.certificate.read_text()) == {
        "hmca", "127.0.0.1", "198.18.0.9"}
    moved.server_context()
