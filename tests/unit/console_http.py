"""A console's API as far as the listing commands and migrlpar ask it: an HTTP server in
a thread of the test (plain, TLS, or on a unix socket) answering each path from a table
(``POST /path`` for a POST), recording the requests, their bodies and the connections it
got; an answer in ``chunks`` is sent chunked, a piece at a time (Server-Sent Events)."""

from __future__ import annotations

import json
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None

    @staticmethod
    def json(value: Any, status: int = 200) -> Answer:  # noqa: ANN401 - any JSON
        return Answer(json.dumps(value).encode(), status,
                      {"Content-Type": "application/json"})

    @staticmethod
    def events(records: list[str]) -> Answer:
        """A migration's events as the console sends them, each record a chunk."""
        return Answer(b"", 200, {"Content-Type": "text/event-stream"}, chunks=[
            f"event: migration\ndata: {record}\n\n".encode() for record in records])


@dataclass
class Seen:
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    connections: int = 0
    bodies: list[bytes] = field(default_factory=list)


def handler(answers: dict[str, Answer], seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn

        def setup(self) -> None:
            seen.connections += 1
            super().setup()

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self._answer(self.path)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            seen.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self._answer(f"POST {self.path}")

        def _answer(self, key: str) -> None:
            seen.requests.append((key, dict(self.headers.items())))
            answer = answers.get(key) or Answer.json({"detail": "Not Found"}, 404)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.chunks is None:
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in [*answer.chunks, b""]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


@contextmanager
def serving(answers: dict[str, Answer], tls: ssl.SSLContext | None = None,
            unix_path: str | None = None) -> Iterator[tuple[str, Seen]]:
    """The server's URL (``unix:PATH`` with ``unix_path``) and what it saw."""
    seen = Seen()
    server: socketserver.BaseServer
    if unix_path:
        server = _UnixServer(unix_path, handler(answers, seen))
        url = f"unix:{unix_path}"
    else:
        http = ThreadingHTTPServer(("127.0.0.1", 0), handler(answers, seen))
        http.daemon_threads = True
        if tls:
            http.socket = tls.wrap_socket(http.socket, server_side=True)
        server = http
        url = f"{'https' if tls else 'http'}://127.0.0.1:{http.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield url, seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
