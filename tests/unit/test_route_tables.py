"""The agent's and mover's contracts, written once in clients/ (``AgentRoutes``,
``MoverRoutes``), held to the routes the services really declare, and the calls another
console may make through the console's ``/peer`` API drawn from them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI

from openlpm.agent.api import create_app as agent_app
from openlpm.clients.agent import AGENT_ROUTES
from openlpm.clients.mover import MOVER_ROUTES
from openlpm.clients.wire import Route
from openlpm.errors import RequestInvalid
from openlpm.hmc.http.consoles import AGENT_CALLS, MOVER_CALLS, _allowed
from openlpm.model import MoverInfo
from openlpm.mover.api import MoverSetup
from openlpm.mover.api import create_app as mover_app

# What another console may ask of an agent here (the calls of a migration to this
# console's systems): a change to this list is a change to what /peer lets through.
PEER_AGENT = {
    ("GET", "/system"), ("GET", "/system/clock"), ("GET", "/system/cpu-models"),
    ("GET", "/partitions"),
    ("GET", "/partitions/{name}"), ("GET", "/partitions/{name}/console"),
    ("GET", "/partitions/{name}/runtime"), ("POST", "/system/storage-check"),
    ("POST", "/partitions"), ("DELETE", "/partitions/{name}"),
    ("POST", "/partitions/{name}/incoming"), ("POST", "/partitions/{name}/incoming/finish"),
    ("POST", "/partitions/{name}/console"), ("POST", "/partitions/{name}/keep")}
PEER_MOVER = {("GET", "/mover"), ("POST", "/channels/incoming"),
              ("GET", "/channels/{migration_id}"), ("DELETE", "/channels/{migration_id}")}


def declared(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app documents."""
    return {(method.upper(), path) for path, item in app.openapi()["paths"].items()
            for method in item}


def agent() -> FastAPI:
    manager: Any = SimpleNamespace(qemu_pids=dict)
    return agent_app(manager, "tcg", "9.2.0", None)


def mover(tmp_path: Path) -> FastAPI:
    info = MoverInfo(name="msp1", control_url="https://198.18.0.2:8444",
                     data_address="198.18.0.2:8445")
    return mover_app(MoverSetup(info, tmp_path, "198.18.0.2:8445", tmp_path, None))


def calls(table: tuple[Route, ...]) -> set[tuple[str, str]]:
    return {(route.method, route.template) for route in table}


def test_the_agent_s_table_is_every_route_the_agent_declares() -> None:
    assert calls(AGENT_ROUTES) == declared(agent())


def test_the_mover_s_table_is_every_route_the_mover_declares(tmp_path: Path) -> None:
    assert calls(MOVER_ROUTES) == declared(mover(tmp_path))


def test_another_console_may_make_the_calls_of_a_migration_only() -> None:
    assert calls(tuple(r for r in AGENT_ROUTES if r.peer)) == PEER_AGENT
    assert calls(tuple(r for r in MOVER_ROUTES if r.peer)) == PEER_MOVER
    assert {(r.method, r.template) for r, _ in AGENT_CALLS} == PEER_AGENT
    assert {(r.method, r.template) for r, _ in MOVER_CALLS} == PEER_MOVER


@pytest.mark.parametrize("table", [AGENT_ROUTES, MOVER_ROUTES])
def test_a_peer_call_with_a_parameter_names_its_subject_by_it(
        table: tuple[Route, ...]) -> None:
    for route in table:
        assert route.subject in (None, *route.parameters)
        if route.peer:
            assert route.parameters == ((route.subject,) if route.subject else ())


@pytest.mark.parametrize(("calls", "method", "path", "subject"), [
    (AGENT_CALLS, "GET", "/partitions", None),
    (AGENT_CALLS, "DELETE", "/partitions/web1", "web1"),
    (AGENT_CALLS, "POST", "/partitions/web1/incoming/finish", "web1"),
    (AGENT_CALLS, "POST", "/system/storage-check", None),
    (MOVER_CALLS, "GET", "/channels/m-1", "m-1"),
    (MOVER_CALLS, "POST", "/channels/incoming", None),
])
def test_a_peer_call_s_subject_is_read_from_its_path(
        calls: Any, method: str, path: str, subject: str | None) -> None:
    assert _allowed(calls, method, path, "agent") == subject


@pytest.mark.parametrize(("calls", "method", "path"), [
    (AGENT_CALLS, "POST", "/partitions/web1/activate"),
    (AGENT_CALLS, "GET", "/partitions/web1/outgoing"),
    (AGENT_CALLS, "DELETE", "/partitions/a/b"),
    (AGENT_CALLS, "PUT", "/system/maintenance"),
    (AGENT_CALLS, "GET", "/system/"),
    (MOVER_CALLS, "POST", "/channels/outgoing"),
    (MOVER_CALLS, "GET", "/channels/m/1"),
])
def test_any_other_call_is_refused(calls: Any, method: str, path: str) -> None:
    with pytest.raises(Exception) as refused:
        _allowed(calls, method, path, "agent")
    assert getattr(refused.value, "code", None) == "HSCLF525"


def test_a_route_builds_its_url_from_one_segment_per_value() -> None:
    route = Route("GET", "/partitions/{name}/console")
    assert route.url("a/b?c") == "/partitions/a%2Fb%3Fc/console"
    assert route.pattern().fullmatch("/partitions/a/b/console") is None
    with pytest.raises(RequestInvalid):
        route.url("..")
