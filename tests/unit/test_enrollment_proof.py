"""The enrollment code proves each side to the other and never travels (``trust.py``,
``Site._enroll``): real TLS services in this process, scripted where they play a host
that never had the code, a relay of the real service, or an agent of 0.1 that proves
nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from openlpm import __version__
from openlpm.authority import CertificateAuthority, Use, issue_problem
from openlpm.errors import NotPermitted
from openlpm.model import EnrollmentRequest
from openlpm.trust import (
    CONSOLE_PROOF,
    ENROLLMENT_PATH,
    ServiceTrust,
    enrollment_proof,
)
from tests.unit.signed_in import ADMIN, sign_in
from tests.unit.test_san_tls import authority, console_site
from tests.unit.test_sysconns import ScriptedAgent, agent, connect

__all__ = ["agent", "authority"]  # fixtures of other modules, used here
Answer = Callable[[ServiceTrust], EnrollmentRequest]


def answering(answer: Answer, posts: list[dict[str, Any]]) -> Callable[[FastAPI, ServiceTrust],
                                                                      None]:
    """Enrollment routes whose ``GET`` answers ``answer(trust)`` and whose ``POST`` is
    only recorded in ``posts``."""
    def install(app: FastAPI, trust: ServiceTrust) -> None:
        @app.get(ENROLLMENT_PATH)
        async def request() -> EnrollmentRequest:
            return answer(trust)

        @app.post(ENROLLMENT_PATH, status_code=204)
        async def enroll(body: dict[str, Any]) -> None:
            posts.append(body)
    return install


def unproven(trust: ServiceTrust) -> EnrollmentRequest:
    return trust.enrollment_request().model_copy(update={"proof": ""})


@pytest.fixture
def posts() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def impostor(tmp_path: Path, posts: list[dict[str, Any]]) -> Iterator[ScriptedAgent]:
    """A host at the address that proves a code of its own (not the agent's)."""
    with ScriptedAgent(tmp_path / "impostor", enrollment=answering(
            ServiceTrust.enrollment_request, posts)) as scripted:
        yield scripted


@pytest.fixture
def silent(tmp_path: Path, posts: list[dict[str, Any]]) -> Iterator[ScriptedAgent]:
    """A host at the address that says a name and proves nothing."""
    with ScriptedAgent(tmp_path / "silent", enrollment=answering(unproven, posts)) as scripted:
        yield scripted


def test_mksysconn_sends_a_host_proving_another_code_nothing(
        console: TestClient, impostor: ScriptedAgent, posts: list[dict[str, Any]]) -> None:
    admin = sign_in(console, *ADMIN)
    refused = connect(console, admin, impostor.port, "the-real-agents-code")
    assert (refused["status"], refused["code"]) == (403, "HSCLF506"), refused
    assert "does not know this code" in str(refused["message"])
    assert posts == []
    assert console.get("/sysconns", headers=admin).json() == []


def test_mksysconn_sends_a_host_proving_nothing_nothing(
        console: TestClient, silent: ScriptedAgent, posts: list[dict[str, Any]]) -> None:
    admin = sign_in(console, *ADMIN)
    refused = connect(console, admin, silent.port, "the-real-agents-code")
    assert (refused["status"], refused["code"]) == (403, "HSCLF558"), refused
    assert posts == []


def test_post_systems_never_sends_the_code_to_a_host_proving_another(
        console: TestClient, impostor: ScriptedAgent, posts: list[dict[str, Any]]) -> None:
    reply = console.post("/systems", headers=sign_in(console, *ADMIN), json={
        "name": "sys7", "agent_url": f"https://127.0.0.1:{impostor.port}",
        "enrollment_code": "the-real-agents-code"})
    assert (reply.status_code, reply.json()["code"]) == (403, "HSCLF506"), reply.text
    assert posts == []


def legacy(app: FastAPI, trust: ServiceTrust) -> None:
    """Enrollment as 0.1.0 did it: no name, no proof, the code itself in the POST."""
    @app.get(ENROLLMENT_PATH)
    async def request() -> dict[str, object]:
        return {"request": trust.certificate_request(), "enrolled": trust.enrolled}

    @app.post(ENROLLMENT_PATH, status_code=204)
    async def enroll(body: dict[str, str]) -> None:
        assert body["code"] == trust.enrollment_code()
        trust.enroll(enrollment_proof(body["code"], CONSOLE_PROOF, body["certificate"],
                                      body["authority"]),
                     body["certificate"], body["authority"])


def test_post_systems_still_enrolls_an_agent_of_0_1_with_a_warning(
        console: TestClient, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedAgent(tmp_path / "old", enrollment=legacy) as old:
        old.version = "0.1.0"
        with caplog.at_level(logging.WARNING, "openlpm.hmc.site.systems"):
            reply = console.post("/systems", headers=sign_in(console, *ADMIN), json={
                "name": "sys7", "agent_url": f"https://127.0.0.1:{old.port}",
                "enrollment_code": old.code})
        assert reply.status_code == 200, reply.text
        assert reply.json()["state"] == "Operating"
    assert "gives no proof" in caplog.text


async def test_a_relay_gets_a_proof_it_cannot_use_for_another_certificate(
        tmp_path: Path, authority: CertificateAuthority, posts: list[dict[str, Any]]) -> None:
    """A host answering at the address hands on the real service's answer (its request
    and proof): the console enrolls, and what the relay gets is worth nothing to it."""
    real = ServiceTrust("sys7", "Managed system sys7", tmp_path / "real", "agent")
    code = real.enrollment_code()
    assert code is not None
    with ScriptedAgent(tmp_path / "relay", enrollment=answering(
            lambda _: real.enrollment_request(), posts)) as relay:
        site = console_site(tmp_path, authority)
        await site.enroll_agent("sys7", f"https://127.0.0.1:{relay.port}", code)
        await site.close()
    [posted] = posts
    assert "code" not in posted and code not in str(posted)
    assert issue_problem(posted["certificate"], posted["authority"],
                         relay.trust.key.read_bytes()) is not None
    own = CertificateAuthority(tmp_path / "relay-authority", "relay")
    forged = own.issue(real.certificate_request(), "sys7", addresses=("127.0.0.1",),
                       use=Use.SERVER)
    with pytest.raises(NotPermitted) as refused:
        real.enroll(posted["proof"], forged, own.certificate_pem)
    assert refused.value.code == "HSCLF506" and not real.enrolled
    # Passed on as it is, it gives the real service to this console, and no one else.
    real.enroll(posted["proof"], posted["certificate"], posted["authority"])
    assert real.enrolled


async def test_the_san_at_an_address_must_prove_the_code_too(
        tmp_path: Path, authority: CertificateAuthority, impostor: ScriptedAgent,
        posts: list[dict[str, Any]]) -> None:
    site = console_site(tmp_path, authority)
    with pytest.raises(NotPermitted) as refused:
        await site.connect_san(f"https://127.0.0.1:{impostor.port}", "the-real-sans-code")
    await site.close()
    assert refused.value.code == "HSCLF506" and posts == []
    assert site.san_connection() is None


def test_the_service_refuses_a_wrong_proof_and_the_code_itself(
        agent: ScriptedAgent, authority: CertificateAuthority) -> None:
    certificate = authority.issue(agent.trust.certificate_request(), "sys7",
                                  addresses=("127.0.0.1",), use=Use.SERVER)
    wrong = enrollment_proof("not-the-code", CONSOLE_PROOF, certificate,
                             authority.certificate_pem)
    with httpx.Client(base_url=f"https://127.0.0.1:{agent.port}", verify=False) as http:
        refused = http.post(ENROLLMENT_PATH, json={
            "proof": wrong, "certificate": certificate,
            "authority": authority.certificate_pem})
        assert (refused.status_code, refused.json()["code"]) == (403, "HSCLF506")
        as_0_1 = http.post(ENROLLMENT_PATH, json={
            "code": agent.code, "certificate": certificate,
            "authority": authority.certificate_pem})
        assert as_0_1.status_code == 400, as_0_1.text
    assert not agent.trust.enrolled


@pytest.mark.parametrize(("mover_version", "sent_code"), [(__version__, False),
                                                          ("0.1.0", True)])
def test_a_mover_gets_its_code_only_when_its_agent_says_it_runs_0_1(
        console: TestClient, agent: ScriptedAgent, silent: ScriptedAgent,
        posts: list[dict[str, Any]], mover_version: str, sent_code: bool) -> None:
    """The mover's code and address come from its agent, which answers this console
    only; a mover of 0.2 that proves nothing is an impostor, and gets nothing."""
    agent.mover_version = mover_version
    agent.mover_url = f"https://127.0.0.1:{silent.port}"
    agent.mover_codes = {"msp7": "the-movers-code"}
    added = connect(console, sign_in(console, *ADMIN), agent.port, agent.code)
    assert added["status"] == 200, added
    assert [post.get("code") for post in posts] == (["the-movers-code"] if sent_code else [])
