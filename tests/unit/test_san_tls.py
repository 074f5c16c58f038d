"""The SAN over TLS, served in this process as `san serve` serves it: enrolled by a
console, then answering that console by its client certificate and the systems by the
hosts key the console hands them; and uvicorn telling the app which certificate its TLS
verified."""

from __future__ import annotations

import asyncio
import ssl
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import ValidationError

from openlpm.agent.api import create_app as agent_app
from openlpm.agent.partitions import Capacity, PartitionManager
from openlpm.agent.qemu import BootImage, QemuSettings
from openlpm.agent.storage import SanAccess
from openlpm.authority import CertificateAuthority, Use, client_context
from openlpm.clients.agent import AgentClient
from openlpm.clients.san import SanClient
from openlpm.errors import (
    NotPermitted,
    NotSignedIn,
    RequestInvalid,
    SystemUnreachable,
    WrongState,
)
from openlpm.hmc.site.systems import Site
from openlpm.hmc.stores.inventory import Inventory
from openlpm.hmc.stores.san import SanStore
from openlpm.model import SanSettings
from openlpm.san.api import create_app
from openlpm.san.keys import SanGuard
from openlpm.san.luns import San
from openlpm.service import bind, client_certificate, server
from openlpm.trust import CONSOLE_PROOF, ServiceTrust, enrollment_proof


@asynccontextmanager
async def serving(app: FastAPI, tls: ssl.SSLContext | None) -> AsyncIterator[str]:
    """``app`` served on a free loopback port; yields its base URL."""
    listener = bind("127.0.0.1:0")
    running = server(app, tls)
    task = asyncio.create_task(running.serve(sockets=[listener]))
    while not running.started:
        await asyncio.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        running.should_exit = True
        await task


def enroll_directly(trust: ServiceTrust, authority: CertificateAuthority, name: str) -> None:
    """Enroll ``trust`` as the console does, without serving it."""
    certificate = authority.issue(trust.certificate_request(), name,
                                  addresses=("127.0.0.1",), use=Use.SERVER)
    trust.enroll(enrollment_proof(trust.enrollment_code() or "", CONSOLE_PROOF, certificate,
                                  authority.certificate_pem),
                 certificate, authority.certificate_pem)


def san_trust(tmp_path: Path) -> ServiceTrust:
    return ServiceTrust("san1", "SAN san1", tmp_path / "san" / "tls", "san",
                        clients=ssl.CERT_OPTIONAL)


def san_app(tmp_path: Path, trust: ServiceTrust) -> FastAPI:
    san = San("san1", tmp_path / "san", "127.0.0.1", 10809)
    return create_app(san, SanGuard(tmp_path / "san" / "keys"), trust)


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "hmc" / "authority" / "agents",
                                "hmc1 agent authority")


def console_tls(authority: CertificateAuthority) -> ssl.SSLContext:
    return client_context(authority, authority.directory, "hmc1 console")


def console_site(tmp_path: Path, authority: CertificateAuthority) -> Site:
    db = tmp_path / "hmc" / "hmc.db"
    return Site(Inventory(db), CertificateAuthority(tmp_path / "hmc" / "authority", "movers"),
                authority, console_tls(authority), name="hmc1", sans=SanStore(db))


def host_tls(authority: CertificateAuthority) -> ssl.SSLContext:
    """How an agent checks the SAN: against the console's authority, no certificate of
    its own."""
    return ssl.create_default_context(cadata=authority.certificate_pem)


async def test_a_fresh_san_answers_nothing_but_its_enrollment(tmp_path: Path) -> None:
    trust = san_trust(tmp_path)
    async with serving(san_app(tmp_path, trust), trust.context) as url:
        anyone = SanClient(url, None, tls=False)
        with pytest.raises(NotPermitted) as refused:
            await anyone.luns()
        assert refused.value.code == "HSCLF518"
        assert (await anyone.enrollment_request()).startswith("-----BEGIN CERTIFICATE")
        await anyone.close()


async def test_a_console_connects_the_san_with_its_code_and_keeps_it_across_restarts(
        tmp_path: Path, authority: CertificateAuthority) -> None:
    trust = san_trust(tmp_path)
    code = trust.enrollment_code()
    assert code is not None
    async with serving(san_app(tmp_path, trust), trust.context) as url:
        site = console_site(tmp_path, authority)
        connection = await site.connect_san(url, code)
        assert (connection.name, connection.systems_without) == ("san1", ())
        assert trust.enrolled and trust.enrollment_code() is None
        assert await site.san.luns() == []
        # The inventory keeps the connection, with the hosts key sealed.
        again = console_site(tmp_path, authority)
        assert again.san_connection() == site.san_connection()
        assert (await again.san.info()).name == "san1"
        raw = (tmp_path / "hmc" / "hmc.db").read_bytes()
        assert SanGuard(tmp_path / "san" / "keys").hosts_key.encode() not in raw
        # Connected already, it needs no code to be connected again.
        assert (await again.connect_san(url, None)).url == url
        await site.close()
        await again.close()


async def test_the_console_may_not_connect_a_second_san_or_a_url_that_is_no_service(
        tmp_path: Path, authority: CertificateAuthority) -> None:
    trust = san_trust(tmp_path)
    async with serving(san_app(tmp_path, trust), trust.context) as url:
        site = console_site(tmp_path, authority)
        for bad in ("ftp://10.0.0.1:8490", "https://10.0.0.1", "https://10.0.0.1:8490/x?y",
                    "https://user@10.0.0.1:8490"):
            with pytest.raises(RequestInvalid) as refused:
                await site.connect_san(bad, "code")
            assert refused.value.code == "HSCLF627"
        await site.connect_san(url, trust.enrollment_code())
        with pytest.raises(Exception, match="remove that connection first"):
            await site.connect_san("https://127.0.0.2:8490", None)
        await site.disconnect_san()
        assert site.san_connection() is None
        assert console_site(tmp_path, authority).san_connection() is None
        await site.close()


async def test_a_san_no_console_enrolled_is_not_trusted_without_its_code(
        tmp_path: Path, authority: CertificateAuthority) -> None:
    trust = san_trust(tmp_path)
    async with serving(san_app(tmp_path, trust), trust.context) as url:
        site = console_site(tmp_path, authority)
        with pytest.raises(SystemUnreachable, match="enrollment code") as refused:
            await site.connect_san(url, None)
        assert refused.value.code == "HSCLF528"
        assert site.san_connection() is None
        await site.close()


async def test_after_enrollment_only_the_console_and_the_hosts_key_get_in(
        tmp_path: Path, authority: CertificateAuthority) -> None:
    trust = san_trust(tmp_path)
    async with serving(san_app(tmp_path, trust), trust.context) as url:
        site = console_site(tmp_path, authority)
        await site.connect_san(url, trust.enrollment_code())
        hosts_key = await site.san.hosts_key()
        assert hosts_key == SanGuard(tmp_path / "san" / "keys").hosts_key

        system = SanClient(url, hosts_key, tls=host_tls(authority))
        assert await system.luns() == []
        for console_only in (system.hosts_key(), system.info(),
                             system.map("data1", "c0507600000000ee")):
            with pytest.raises(NotPermitted) as refused:
                await console_only
            assert refused.value.code == "HSCLF607"
        for key in (None, "not-the-key"):
            stranger = SanClient(url, key, tls=host_tls(authority))
            with pytest.raises(NotSignedIn) as unknown:
                await stranger.luns()
            assert unknown.value.code == "HSCLF606"
            await stranger.close()
        # Another console's client certificate: the handshake fails.
        other = CertificateAuthority(tmp_path / "other", "another console's authority")
        intruder = host_tls(authority)
        client_context(other, other.directory, "intruder")
        intruder.load_cert_chain(other.directory / "client.crt", other.directory / "client.key")
        with pytest.raises(SystemUnreachable):
            await SanClient(url, hosts_key, tls=intruder).luns()
        # Nor does the SAN describe its API to a caller without a certificate.
        async with httpx.AsyncClient(base_url=url, verify=host_tls(authority)) as anyone:
            for page in ("/openapi.json", "/docs", "/redoc"):
                assert (await anyone.get(page)).status_code in (401, 404), page
        # Plain HTTP to the TLS port is no way in.
        with pytest.raises(SystemUnreachable):
            await SanClient(url.replace("https:", "http:"), hosts_key).luns()
        await system.close()
        await site.close()


async def test_an_agent_keeps_the_san_it_was_given_owner_only_and_reaches_it(
        tmp_path: Path, authority: CertificateAuthority) -> None:
    trust = san_trust(tmp_path)
    async with serving(san_app(tmp_path, trust), trust.context) as url:
        site = console_site(tmp_path, authority)
        await site.connect_san(url, trust.enrollment_code())
        settings = SanSettings(url=url, hosts_key=await site.san.hosts_key(),
                               authority=authority.certificate_pem)
        kept = tmp_path / "sys1" / "san.json"
        kept.parent.mkdir()
        access = SanAccess("sys1", tmp_path / "sys1" / "fabric", settings_file=kept)
        await access.use(settings)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        restarted = SanAccess("sys1", tmp_path / "sys1" / "fabric", settings_file=kept)
        assert restarted.san_url == url and restarted.san is not None
        assert await restarted.san.luns() == []
        for access_ in (access, restarted):
            await access_.close()
        await site.close()


def test_an_agent_refuses_san_settings_whose_url_is_no_service() -> None:
    for url in ("file:///etc/passwd", "https://10.0.0.1:8490/../x", "https://10.0.0.1"):
        with pytest.raises(ValidationError):
            SanSettings(url=url, hosts_key="k")


async def test_the_protocol_hands_the_app_the_certificate_tls_verified(
        tmp_path: Path, authority: CertificateAuthority) -> None:
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, str | None]:
        return {"certificate": client_certificate(request.scope)}

    trust = san_trust(tmp_path)
    enroll_directly(trust, authority, "san1")
    async with serving(app, trust.context) as url:
        async with httpx.AsyncClient(verify=console_tls(authority)) as console:
            shown = (await console.get(f"{url}/who")).json()["certificate"]
        async with httpx.AsyncClient(verify=host_tls(authority)) as anonymous:
            assert (await anonymous.get(f"{url}/who")).json() == {"certificate": None}
    assert shown == (authority.directory / "client.crt").read_text()
    async with serving(app, None) as plain, httpx.AsyncClient() as http:
        assert (await http.get(f"{plain}/who")).json() == {"certificate": None}


async def test_only_the_console_gives_an_agent_its_san(
        tmp_path: Path, authority: CertificateAuthority) -> None:
    """The agent's PUT /san is behind its TLS like its other routes: whoever could point
    a system at a SAN of their own would see what its partitions read."""
    state_dir = tmp_path / "sys1"
    manager = PartitionManager("sys1", state_dir, Capacity(2, 1024), QemuSettings(
        "qemu-system-x86_64", "tcg", BootImage(Path("/k"), Path("/i"), "console=ttyS0")))
    trust = ServiceTrust("sys1", "Managed system sys1", state_dir / "tls", "agent")
    enroll_directly(trust, authority, "sys1")
    settings = SanSettings(url="https://127.0.0.1:8490", hosts_key="k",
                           authority=authority.certificate_pem)
    async with serving(agent_app(manager, "tcg", "9", None, trust=trust),
                       trust.context) as url:
        stranger = AgentClient(url, "sys1", tls=host_tls(authority))
        with pytest.raises(SystemUnreachable):
            await stranger.give_san(settings)
        await stranger.close()
        assert manager.storage.san_url is None
        console = AgentClient(url, "sys1", tls=console_tls(authority))
        await console.give_san(settings)
        await console.close()
    assert manager.storage.san_url == "https://127.0.0.1:8490"
    assert stat.S_IMODE((state_dir / "san.json").stat().st_mode) == 0o600


async def test_a_listing_shows_the_san_as_it_answers_now(
        tmp_path: Path, authority: CertificateAuthority) -> None:
    trust = san_trust(tmp_path)
    site = console_site(tmp_path, authority)
    async with serving(san_app(tmp_path, trust), trust.context) as url:
        await site.connect_san(url, trust.enrollment_code())
        status = await site.san_status()
        assert status is not None and status.state == "connected"
    status = await site.san_status()
    assert status is not None and status.state == "unreachable"
    await site.close()


async def test_a_san_of_a_release_the_console_does_not_manage_is_not_connected(
        tmp_path: Path, authority: CertificateAuthority,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openlpm.san.api.__version__", "9.0.0")
    trust = san_trust(tmp_path)
    site = console_site(tmp_path, authority)
    async with serving(san_app(tmp_path, trust), trust.context) as url:
        with pytest.raises(WrongState) as refused:
            await site.connect_san(url, trust.enrollment_code())
    assert refused.value.code == "HSCLF551" and "SAN san1" in refused.value.message
    assert site.san_connection() is None
    await site.close()
