"""Attacks on an installed site, from a security review of installing and running as
services, mksysconn and the SAN over TLS: a host that answers at an address it should
not, names and addresses that would bend listings and URLs, oversized answers, planted
links under install-units' root, configuration files others may write, forwarded
headers, a system's certificate presented to the SAN, the hosts key and plain HTTP.
Each was a working attack before its fix."""

from __future__ import annotations

import contextlib
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError

from openlpm import config, versions
from openlpm.authority import CertificateAuthority, Use, certificate_request, ensure_key
from openlpm.clients.san import SanClient
from openlpm.errors import OpenLpmError
from openlpm.hmc.stores.inventory import SystemEntry
from openlpm.install import units
from openlpm.model import FabricLogin, SysConnCreate, service_url
from openlpm.service import bind, server
from openlpm.trust import ServiceTrust
from tests.unit.signed_in import ADMIN, sign_in
from tests.unit.test_san_tls import console_site, host_tls, san_app, san_trust, serving
from tests.unit.test_sysconns import ScriptedAgent, connect

# --- mksysconn: the name an unverified agent gives -------------------------------------

# Within X.509's 64 characters of a common name, so enrollment itself does not fail.
# The newline forges a line of the CLI's listings (cli/attributes.py quotes a value
# holding the delimiter, not one holding a newline); "/" makes a name that
# /systems/{system} can never reach; the markup is for whatever shows names as HTML.
NOT_A_SYSTEM_NAME = "sys1,Operating\n<img src=x onerror=alert(1)>/../x"


@pytest.fixture
def evil_agent(tmp_path: Path) -> Iterator[ScriptedAgent]:
    with ScriptedAgent(tmp_path / "evil-tls", name=NOT_A_SYSTEM_NAME) as scripted:
        yield scripted


def test_mksysconn_refuses_a_name_no_system_may_have(console: TestClient,
                                                     evil_agent: ScriptedAgent) -> None:
    """The agent at the address says its name before its certificate can be checked,
    and that name is kept as given (POST /systems' AddSystem.name has no pattern either,
    but there the super administrator types it): a system's name is NAME_PATTERN's."""
    admin = sign_in(console, *ADMIN)
    added = connect(console, admin, evil_agent.port, evil_agent.code)
    listed = [c["name"] for c in console.get("/sysconns", headers=admin).json()]
    assert NOT_A_SYSTEM_NAME not in listed, added
    assert added["status"] == 400, added


@pytest.fixture
def impostor(tmp_path: Path) -> Iterator[ScriptedAgent]:
    """A host answering at the address mksysconn is given (a spoofed address, a race
    on the management network) that never had the agent's code: it takes any code."""
    with ScriptedAgent(tmp_path / "impostor-tls", name="sys7") as scripted:
        enroll = scripted.trust.enroll

        def any_code(code: str, certificate: str, authority: str) -> None:
            scripted.trust.code_file.write_text(code + "\n")
            enroll(code, certificate, authority)

        scripted.trust.enroll = any_code  # type: ignore[method-assign,assignment]
        yield scripted


def test_mksysconn_refuses_a_host_that_never_had_the_code(console: TestClient,
                                                          impostor: ScriptedAgent) -> None:
    admin = sign_in(console, *ADMIN)
    real_agent_code = "the-code-read-from-the-real-agent-host"
    added = connect(console, admin, impostor.port, real_agent_code)
    assert added["status"] in (400, 403, 409, 502), added
    assert console.get("/sysconns", headers=admin).json() == []


# --- versions: a service's version string --------------------------------------------

def test_a_version_of_thousands_of_digits_is_refused_not_a_crash() -> None:
    huge = "1" * 5000 + ".0"
    refusal = versions.skew("Managed system evil", huge, "0.2.0")
    assert refusal is not None and refusal.code in ("HSCLF550", "HSCLF551")


# --- install-units: symbolic links under the root -------------------------------------

def test_install_units_does_not_write_through_a_planted_unit_link(tmp_path: Path) -> None:
    """Whoever may write under --root (a staging tree in /tmp, an image being built)
    plants openlpm-agent.service.new -> a file root owns: install-units run as root
    overwrites that file with the unit and makes it 0644 (world-readable)."""
    victim = tmp_path / "shadow"
    victim.write_text("root:secret-hash\n")
    victim.chmod(0o600)
    root = tmp_path / "root"
    (root / units.UNIT_DIR).mkdir(parents=True)
    (root / units.UNIT_DIR / "openlpm-agent.service.new").symlink_to(victim)
    with contextlib.suppress(OpenLpmError):  # refusing is a fix too
        units.install(["agent"], root, {"agent": "# sample"}, reload=False,
                      python="/usr/bin/python3")
    assert victim.read_text() == "root:secret-hash\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600


def test_install_units_does_not_write_through_a_planted_config_link(tmp_path: Path) -> None:
    victim = tmp_path / "shadow"
    victim.write_text("root:secret-hash\n")
    root = tmp_path / "root"
    (root / units.CONFIG_DIR).mkdir(parents=True)
    (root / units.CONFIG_DIR / "agent.toml.new").symlink_to(victim)
    with contextlib.suppress(OpenLpmError):
        units.install(["agent"], root, {"agent": "# sample"}, reload=False,
                      python="/usr/bin/python3")
    assert victim.read_text() == "root:secret-hash\n"


# --- configuration files ------------------------------------------------------------

def test_a_configuration_file_others_may_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('insecure = true\n')
    path.chmod(0o666)
    with pytest.raises(OpenLpmError):
        config.load(path)


# --- every service's HTTP server: forwarded headers ----------------------------------

@pytest.fixture
def address_echo() -> Iterator[int]:
    """service.server() (what every serve runs) with an app answering the client's
    address as the app sees it (the sign-in throttle's key, users.client_address)."""
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, str]:
        return {"host": request.client.host if request.client else "-",
                "scheme": request.url.scheme}

    sock = bind("127.0.0.1:0")
    served = server(app)
    served.config.timeout_graceful_shutdown = 0
    thread = threading.Thread(target=served.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not served.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield sock.getsockname()[1]
    served.should_exit = True
    thread.join(10)


def test_a_client_cannot_choose_its_own_address_with_forwarded_headers(
        address_echo: int) -> None:
    seen = httpx.get(f"http://127.0.0.1:{address_echo}/who",
                     headers={"X-Forwarded-For": "203.0.113.9",
                              "X-Forwarded-Proto": "https"}).json()
    assert seen == {"host": "127.0.0.1", "scheme": "http"}



# --- mksysconn: the size of the unverified answer ------------------------------------

class EndlessEnrollment:
    """A TLS server at the address mksysconn is given that answers GET /enrollment with
    a JSON body of 64 MiB whose length it does not declare (it ends when the connection
    does), counting what the console reads of it."""

    BODY = 64 * 1024 * 1024

    def __init__(self, directory: Path) -> None:
        self.trust = ServiceTrust("big", "big", directory, "agent")
        self.listener = bind("127.0.0.1:0")
        self.port = self.listener.getsockname()[1]
        self.sent = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            try:
                with self.trust.context.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(65536)
                    head = '{"request": "x", "enrolled": true, "name": "'
                    tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                b"connection: close\r\n\r\n" + head.encode())
                    chunk = b"a" * 65536
                    while self.sent < self.BODY - 65536:
                        tls.sendall(chunk)
                        self.sent += len(chunk)
            except OSError:
                continue

    def __enter__(self) -> EndlessEnrollment:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.listener.close()


def test_mksysconn_stops_reading_an_enrollment_answer_past_a_limit(
        console: TestClient, tmp_path: Path) -> None:
    admin = sign_in(console, *ADMIN)
    with EndlessEnrollment(tmp_path / "big-tls") as big:
        refused = connect(console, admin, big.port)
    # The console stops at its 4 MiB limit; what the sender got out beyond that sat in
    # socket buffers, a few MiB at most, never the 64 MiB.
    assert "the rest was not read" in str(refused["message"]), refused
    assert big.sent < 16 * 1024 * 1024


# --- the SAN guard: which client certificate is the console ----------------------------

async def test_a_system_certified_for_both_uses_is_not_the_console_to_the_san(
        tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path / "hmc" / "authority" / "agents",
                                     "hmc1 agent authority")
    trust = san_trust(tmp_path)
    async with serving(san_app(tmp_path, trust), trust.context) as url:
        site = console_site(tmp_path, authority)
        await site.connect_san(url, trust.enrollment_code())
        # sys1's agent, enrolled before certificates were server-only.
        key = tmp_path / "sys1.key"
        ensure_key(key)
        certificate = tmp_path / "sys1.crt"
        certificate.write_text(authority.issue(
            certificate_request(key.read_bytes(), "sys1"), "sys1", ("127.0.0.1",),
            use=Use.BOTH))
        as_agent = host_tls(authority)
        as_agent.load_cert_chain(certificate, key)
        root_on_sys1 = SanClient(url, None, tls=as_agent)
        try:
            with pytest.raises(OpenLpmError):
                await root_on_sys1.hosts_key()
        finally:
            await root_on_sys1.close()
            await site.close()


# --- the hosts key and an agent served in plain HTTP --------------------------------

async def test_the_hosts_key_never_goes_to_an_agent_in_plain_http(tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path / "hmc" / "authority" / "agents",
                                     "hmc1 agent authority")
    received: list[dict[str, object]] = []
    listener = FastAPI()

    @listener.put("/san", status_code=204)
    async def put_san(request: Request) -> None:
        received.append(await request.json())

    trust = san_trust(tmp_path)
    async with serving(san_app(tmp_path, trust), trust.context) as url, \
            serving(listener, None) as plain_agent:
        site = console_site(tmp_path, authority)
        await site.connect_san(url, trust.enrollment_code())
        site.inventory.add_system(SystemEntry(name="sys9", agent_url=plain_agent))
        with contextlib.suppress(OpenLpmError):
            await site.give_san("sys9")
        await site.close()
    assert [body.get("hosts_key") for body in received if body.get("hosts_key")] == []


# --- mksysconn: the address -----------------------------------------------------------

@pytest.mark.parametrize("address", ["fe80::1%x]@127.0.0.1:9999#", "fe80::1%a b?c"])
def test_an_ipv6_scope_id_does_not_bend_the_agent_s_url(address: str) -> None:
    """Tried through POST /sysconns: ip "fe80::1%x]@127.0.0.1:PORT#", port 8470 adds
    the agent listening on 127.0.0.1:PORT, its agent_url kept as
    https://[fe80::1%x]@127.0.0.1:PORT#]:8470."""
    try:
        connection = SysConnCreate(ip=address, port=8470)
    except ValidationError:
        return  # refused: fixed
    url = connection.url()
    assert (urlsplit(url).hostname, urlsplit(url).port) == (address.lower(), 8470), url
    assert service_url(url) == url


def test_a_system_with_the_hosts_key_cannot_hand_the_san_a_huge_login() -> None:
    """POST /logins is one of the three calls the hosts key opens, to every system: its
    certificate request is bounded before it reaches the fabric's authority."""
    with pytest.raises(ValidationError):
        FabricLogin(identity="c050760000000a01", request="x" * (1 << 20))
