"""mksysconn, lssysconn and rmsysconn against the console's real API in-process, with a
scripted agent over real TLS: the real enrollment routes (``trust.py``) and a
``GET /system`` whose release the test chooses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from openlpm import __version__
from openlpm.model import MoverInfo, Role, SystemInfo
from openlpm.service import bind, install_error_handlers
from openlpm.trust import ServiceTrust, install_enrollment
from openlpm.versions import series
from tests.unit.signed_in import ADMIN, add_user, sign_in


class ScriptedAgent:
    """An agent's enrollment and ``GET /system``, served over TLS on loopback."""

    def __init__(self, directory: Path, name: str = "sys7",
                 enrollment: Callable[[FastAPI, ServiceTrust], None] = install_enrollment
                 ) -> None:
        """``enrollment`` installs its enrollment routes: the real ones unless told."""
        self.name = name
        self.version = __version__
        # The release of the system's one mover service; None: it has none.
        self.mover_version: str | None = None
        self.mover_url = "https://127.0.0.1:9"
        # What GET /movers/enrollment-codes answers: the codes of movers not enrolled.
        self.mover_codes: dict[str, str] = {}
        self.trust = ServiceTrust(name, f"Managed system {name}", directory, "agent")
        app = FastAPI()
        install_error_handlers(app)
        enrollment(app, self.trust)
        app.get("/system")(self.system)
        app.get("/movers/enrollment-codes")(lambda: self.mover_codes)
        self.socket = bind("127.0.0.1:0")
        self.port = self.socket.getsockname()[1]
        # The console keeps its connections open: no waiting for them at the end.
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=0)
        config.load()
        config.ssl = self.trust.context
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    async def system(self) -> SystemInfo:
        return SystemInfo(name=self.name, cpus=4, memory_mb=4096, free_cpus=4,
                          free_memory_mb=4096, accel="tcg", qemu_version="7.2.0",
                          agent_version=self.version, movers=() if self.mover_version is None
                          else (MoverInfo(name="msp7", control_url=self.mover_url,
                                          data_address="127.0.0.1:9",
                                          version=self.mover_version),))

    @property
    def code(self) -> str:
        code = self.trust.enrollment_code()
        assert code is not None
        return code

    def __enter__(self) -> ScriptedAgent:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[ScriptedAgent]:
    with ScriptedAgent(tmp_path / "agent-tls") as scripted:
        yield scripted


def minors_older(version: str, minors: int) -> str:
    major, minor = (int(n) for n in series(version).split("."))
    if minor < minors:
        pytest.skip(f"no release {minors} minors before {version}")
    return f"{major}.{minor - minors}.0"


def connect(console: TestClient, headers: dict[str, str], port: int,
            code: str | None = None, ip: str = "127.0.0.1") -> dict[str, object]:
    reply = console.post("/sysconns", headers=headers,
                         json={"ip": ip, "port": port, "password": code})
    body: dict[str, object] = reply.json()
    body["status"] = reply.status_code
    return body


def test_a_system_is_added_by_its_address_under_the_name_its_agent_gives(
        console: TestClient, agent: ScriptedAgent) -> None:
    admin = sign_in(console, *ADMIN)
    added = connect(console, admin, agent.port, agent.code)
    assert added["status"] == 200, added
    assert (added["name"], added["state"], added["ipaddr"]) == ("sys7", "Connected",
                                                                "127.0.0.1")
    assert added["version"] == __version__
    assert console.get("/systems/sys7", headers=admin).json()["state"] == "Operating"
    listed = console.get("/sysconns", headers=admin).json()
    assert [(c["resource_type"], c["name"], c["state"]) for c in listed] == \
        [("sys", "sys7", "Connected")]


def test_a_wrong_enrollment_code_is_refused_and_nothing_is_added(
        console: TestClient, agent: ScriptedAgent) -> None:
    admin = sign_in(console, *ADMIN)
    refused = connect(console, admin, agent.port, "not-the-code")
    assert (refused["status"], refused["code"]) == (403, "HSCLF506")
    assert console.get("/sysconns", headers=admin).json() == []
    assert not agent.trust.enrolled


def test_an_agent_never_enrolled_needs_its_code(console: TestClient,
                                                agent: ScriptedAgent) -> None:
    refused = connect(console, sign_in(console, *ADMIN), agent.port)
    assert (refused["status"], refused["code"]) == (400, "HSCLF553")
    assert "--passwd" in str(refused["message"])


def test_a_system_removed_comes_back_without_a_code(console: TestClient,
                                                     agent: ScriptedAgent) -> None:
    """This console enrolled it: its own identity opens the agent again."""
    admin = sign_in(console, *ADMIN)
    assert connect(console, admin, agent.port, agent.code)["status"] == 200
    removed = console.delete("/sysconns/127.0.0.1", headers=admin)
    assert removed.status_code == 204, removed.text
    assert console.get("/sysconns", headers=admin).json() == []
    again = connect(console, admin, agent.port)
    assert (again["status"], again.get("state")) == (200, "Connected"), again


def test_an_agent_one_minor_older_is_managed_and_two_older_refused(
        console: TestClient, agent: ScriptedAgent) -> None:
    admin = sign_in(console, *ADMIN)
    agent.version = minors_older(__version__, 2)
    code = agent.code
    refused = connect(console, admin, agent.port, code)
    assert (refused["status"], refused["code"]) == (409, "HSCLF550"), refused
    assert f"runs openlpm {agent.version}" in str(refused["message"])
    assert console.get("/sysconns", headers=admin).json() == []
    agent.version = minors_older(__version__, 1)
    added = connect(console, admin, agent.port)
    assert (added["status"], added["version"]) == (200, agent.version), added


def test_a_system_whose_mover_runs_a_release_out_of_range_is_refused(
        console: TestClient, agent: ScriptedAgent) -> None:
    admin = sign_in(console, *ADMIN)
    agent.mover_version = "99.0.0"
    refused = connect(console, admin, agent.port, agent.code)
    assert (refused["status"], refused["code"]) == (409, "HSCLF551"), refused
    assert "Mover service msp7 of sys7 runs openlpm 99.0.0" in str(refused["message"])
    assert console.get("/sysconns", headers=admin).json() == []


def test_an_agent_out_of_range_shows_version_mismatch_and_its_operations_are_refused(
        console: TestClient, agent: ScriptedAgent) -> None:
    admin = sign_in(console, *ADMIN)
    assert connect(console, admin, agent.port, agent.code)["status"] == 200
    agent.version = "99.0.0"
    listed = console.get("/sysconns", headers=admin).json()
    assert [(c["state"], c["connection_error_code"]) for c in listed] == \
        [("Version Mismatch", "HSCLF551")]
    system = console.get("/systems/sys7", headers=admin).json()
    assert (system["state"], system["error_code"]) == ("Version Mismatch", "HSCLF551")
    refused = console.get("/systems/sys7/partitions", headers=admin)
    assert refused.json()["code"] == "HSCLF551"
    agent.version = __version__
    assert console.get("/systems/sys7", headers=admin).json()["state"] == "Operating"


@pytest.mark.parametrize("ip", ["evil.example/admin#", "user@10.0.0.1", "10.0.0.1#frag",
                                "10.0.0.1\nHost: x", "10.0.0.1:99", "10.0.0.1/24", "a..b",
                                "[::1]", "", "x" * 300])
def test_an_address_that_would_bend_the_agent_s_url_is_refused(
        console: TestClient, ip: str) -> None:
    """Checked before any URL is made of it: nothing is asked of any host."""
    admin = sign_in(console, *ADMIN)
    reply = console.post("/sysconns", headers=admin, json={"ip": ip, "password": "c"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "HSCLF101"
    assert console.get("/sysconns", headers=admin).json() == []


@pytest.mark.parametrize("port", [0, 65536, -1, "8470/x"])
def test_a_port_out_of_range_is_refused(console: TestClient, port: object) -> None:
    admin = sign_in(console, *ADMIN)
    reply = console.post("/sysconns", headers=admin, json={"ip": "10.0.0.1", "port": port})
    assert reply.status_code == 400, reply.text


def test_removing_an_address_nothing_is_connected_at_says_so(console: TestClient) -> None:
    admin = sign_in(console, *ADMIN)
    reply = console.delete("/sysconns/10.9.9.9", headers=admin)
    assert (reply.status_code, reply.json()["code"]) == (404, "HSCLF555")


@pytest.mark.parametrize("name", ["..", "sys1,sys2", "%2e%2e", "sys1%0a"])
def test_removing_a_system_by_a_name_none_has_removes_nothing(console: TestClient,
                                                              name: str) -> None:
    admin = sign_in(console, *ADMIN)
    console.post("/systems", headers=admin, json={"name": "sys1",
                                                  "agent_url": "https://127.0.0.1:9"})
    reply = console.delete(f"/systems/{name}", headers=admin)
    # HSCLF531 (no name at all), or a path the client folded to another route.
    assert reply.status_code in (400, 404, 405), reply.text
    assert [s["name"] for s in console.get("/systems", headers=admin).json()] == ["sys1"]


def test_only_a_super_administrator_adds_or_removes_connections(
        console: TestClient) -> None:
    operator = add_user(console, "op1", Role.OPERATOR)
    assert console.post("/sysconns", headers=operator,
                        json={"ip": "10.0.0.1"}).json()["code"] == "HSCL350B"
    assert console.delete("/sysconns/10.0.0.1", headers=operator).status_code == 403
    assert console.get("/sysconns", headers=operator).status_code == 200
