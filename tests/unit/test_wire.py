"""Values in the URLs the clients build: each one segment of the path, whatever it holds,
so a name taken from a request never reaches another path of the service behind."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from openlpm.clients.san import SanClient
from openlpm.clients.wire import segment
from openlpm.errors import RequestInvalid

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
