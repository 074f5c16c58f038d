"""Values in the URLs the clients build: each one segment of the path, whatever it holds,
so a name taken from a request never reaches another path of the service behind. Answers
read up to a limit, and JSON or an error."""

from __future__ import annotations

import asyncio
import gzip
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from openlpm.clients.san import SanClient
from openlpm.clients.wire import MIB, Route, ServiceClient, segment
from openlpm.errors import RequestInvalid, SystemUnreachable, WrongState

LUN = {"name": "l1", "size_mb": 8, "host": "198.18.0.3", "port": 10809}


@pytest.mark.parametrize(("value", "sent"), [
    ("l1", "l1"), ("c05076a1b2c3d4e5", "c05076a1b2c3d4e5"), ("a/b", "a%2Fb"),
    ("../..", "..%2F.."), ("%2e%2e", "%252e%252e"), ("x?y#z", "x%3Fy%23z"),
    ("host:sys1:2", "host%3Asys1%3A2")])
def test_a_value_is_one_segment(value: str, sent: str) -> None:
    assert segment(value) == sent


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_a_value_no_encoding_keeps_a_segment_is_refused(value: str) -> None:
    with pytest.raises(RequestInvalid) as raised:
        segment(value)
    assert raised.value.code == "HSCLF530"


def recording_san(seen: list[tuple[str, bytes]]) -> httpx.ASGITransport:
    """A SAN that answers every call with a LUN, and records the method and raw path."""
    app = FastAPI()

    @app.api_route("/{rest:path}", methods=["GET", "POST", "DELETE"])
    async def anything(rest: str, request: Request) -> dict[str, object]:
        seen.append((request.method, request.scope["raw_path"]))
        return LUN

    return httpx.ASGITransport(app=app)


async def test_a_mapping_named_like_a_path_stays_a_mapping() -> None:
    """Unmapping '..' from LUN l1 once reached the SAN as DELETE /luns/l1."""
    seen: list[tuple[str, bytes]] = []
    san = SanClient("http://san", "key", transport=recording_san(seen))
    try:
        await san.unmap("l1", "../..")
        await san.unmap("l1", "a/b?c")
        with pytest.raises(RequestInvalid):
            await san.unmap("l1", "..")
        with pytest.raises(RequestInvalid):
            await san.delete(".")
    finally:
        await san.close()
    assert seen == [("DELETE", b"/luns/l1/mappings/..%2F.."),
                    ("DELETE", b"/luns/l1/mappings/a%2Fb%3Fc")]


def answering(response: httpx.Response) -> ServiceClient:
    """A client of a service that gives every request ``response``."""
    return ServiceClient("http://service", "Test service",
                         transport=httpx.MockTransport(lambda _: response))


async def endless(sent: list[int]) -> AsyncIterator[bytes]:
    """A chunked JSON body that never ends, counting the chunks taken from it."""
    yield b'["'
    while True:
        sent.append(1)
        yield b"a" * 65536


async def test_an_answer_over_the_limit_is_refused_as_it_streams() -> None:
    sent: list[int] = []
    client = answering(httpx.Response(200, content=endless(sent)))
    with pytest.raises(SystemUnreachable) as refused:
        await client.request("GET", "/x")
    assert refused.value.code == "HSCLF546"
    assert "Test service at http://service" in refused.value.message
    assert len(sent) * 65536 <= ServiceClient.answer_limit + 65536


async def test_an_answer_declaring_a_length_over_the_limit_is_not_read() -> None:
    body = b'"' + b"a" * (4 * MIB) + b'"'
    with pytest.raises(SystemUnreachable) as refused:
        await answering(httpx.Response(200, content=body)).request("GET", "/x")
    assert refused.value.code == "HSCLF546"
    assert await answering(httpx.Response(200, content=body)).call(
        Route("GET", "/x", answer_limit=8 * MIB)) == "a" * (4 * MIB)


@pytest.mark.parametrize("response", [
    httpx.Response(200, content=b"<html>"), httpx.Response(200, content=b"[" * 100_000),
    httpx.Response(200, content=b"\xff\xfe\x00"),
    httpx.Response(200, content=gzip.compress(b"[]"), headers={"content-encoding": "gzip"})])
async def test_an_answer_that_is_not_plain_json_is_an_error(response: httpx.Response) -> None:
    with pytest.raises(SystemUnreachable) as refused:
        await answering(response).request("GET", "/x")
    assert refused.value.code == "HSCLF547"


async def test_answers_are_asked_uncompressed_and_errors_still_decoded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "identity"
        return httpx.Response(409, json=WrongState("busy", code="HSCLF999").to_wire())
    client = ServiceClient("http://service", "Test service",
                           transport=httpx.MockTransport(handler))
    with pytest.raises(WrongState) as refused:
        await client.request("GET", "/x")
    assert str(refused.value) == "HSCLF999 busy"
    assert await answering(httpx.Response(204)).request("DELETE", "/x") is None


def test_httpcore_finds_sniffio_once_not_at_every_request() -> None:
    """httpcore asks which async library runs by importing sniffio at each lock and
    event it makes (four a request); without sniffio installed every such import fails
    anew, a search of sys.path, which a console asking forty agents paid 160 times a
    listing (encode/httpcore#1103). sniffio is a dependency: the import finds the
    module loaded once."""
    from httpcore._synchronization import current_async_library

    async def ask() -> str:
        return current_async_library()

    assert asyncio.run(ask()) == "asyncio"
    assert "sniffio" in sys.modules
