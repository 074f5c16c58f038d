"""The limit on request bodies: refused with 413 before the app reads them whole,
whether the body declares its length or comes in chunks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from openlpm.hmc.http.body_limit import BodyLimit

LIMIT = 1000


class Note(BaseModel):
    text: str


def limited() -> tuple[BodyLimit, list[str], list[tuple[str, str]]]:
    """A FastAPI app behind the limit; what its route saw, and what was refused."""
    seen: list[str] = []
    refused: list[tuple[str, str]] = []
    app = FastAPI()

    @app.post("/notes")
    async def add(note: Note) -> dict[str, int]:
        seen.append(note.text)
        return {"length": len(note.text)}

    return BodyLimit(app, LIMIT, lambda method, path: refused.append((method, path))), \
        seen, refused


def send(app: BodyLimit, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> \
        tuple[int, dict[str, Any], int]:
    """POST ``chunks`` one ASGI message each; (status, JSON body, chunks the app read)."""
    pulled = 0
    answer: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled > len(chunks):
            await asyncio.sleep(3600)  # nothing more comes: the app must not wait for it
        return {"type": "http.request", "body": chunks[pulled - 1],
                "more_body": pulled < len(chunks)}

    async def respond(message: dict[str, Any]) -> None:
        answer.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/notes", "raw_path": b"/notes",
             "query_string": b"", "root_path": "", "server": ("test", 80),
             "client": ("192.0.2.1", 5000),
             "headers": [(b"content-type", b"application/json"), *headers]}
    asyncio.run(asyncio.wait_for(app(scope, receive, respond), 5))
    status = next(m["status"] for m in answer if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in answer if m["type"] == "http.response.body")
    return status, json.loads(body), pulled


def note(size: int) -> bytes:
    return json.dumps({"text": "x" * size}).encode()


def test_a_body_within_the_limit_reaches_the_app() -> None:
    app, seen, refused = limited()
    body = note(500)
    status, answer, _ = send(app, [body[:100], body[100:]],
                             [(b"content-length", str(len(body)).encode())])
    assert (status, answer) == (200, {"length": 500})
    assert seen == ["x" * 500] and refused == []


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    app, seen, refused = limited()
    body = note(5000)
    status, answer, pulled = send(app, [body], [(b"content-length", str(len(body)).encode())])
    assert status == 413
    assert (answer["kind"], answer["code"]) == ("RequestTooLarge", "HSCLF517")
    assert str(LIMIT) in answer["message"]
    assert pulled == 0 and seen == [] and refused == [("POST", "/notes")]


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit() -> None:
    app, seen, refused = limited()
    body = note(5000)
    chunks = [body[i:i + 400] for i in range(0, len(body), 400)]
    status, answer, pulled = send(app, chunks, [(b"transfer-encoding", b"chunked")])
    assert status == 413 and answer["code"] == "HSCLF517"
    # Read until the count passed 1000 bytes (the third chunk), and not one chunk more.
    assert pulled == 3 and seen == [] and refused == [("POST", "/notes")]


def test_a_length_declared_small_does_not_let_more_through() -> None:
    app, seen, _ = limited()
    body = note(5000)
    status, answer, _ = send(app, [body[:600], body[600:1200], body[1200:]],
                             [(b"content-length", b"10")])
    assert status == 413 and answer["code"] == "HSCLF517" and seen == []
