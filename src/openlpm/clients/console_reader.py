"""The quick commands' client of the console: synchronous, on the standard library
(http.client, ssl, json), one connection for the whole command. The listings GET;
migrlpar also POSTs its validation or migration and follows the migration's events.

Importing httpx, asyncio and pydantic cost lssyscfg about 200 ms before its first
request, three times what the whole listing takes now (docs/performance.md, "Command
latency"). The reader finds, trusts and signs in to the console as ``HmcClient`` does
(``console_address.py``, ``credentials.py``: ``$OPENLPM_HMC`` with ``unix:PATH``, the pinned
certificate or the same authorities, the token), reads an answer under the same limit
and turns it into the same errors (``plain_wire.py``); its answers are the views of
``console_views.py``. In an environment that names an HTTP proxy, where httpx would go
through it, each GET is HmcClient's, at httpx's cost (migrlpar then runs on HmcClient
from the start: ``goes_through_proxy``).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from openlpm.clients.console_address import TRUST_HINT, hmc_trust, system_trust
from openlpm.clients.console_views import (
    AnswerInvalid,
    JournalEntryView,
    MigrationRecordView,
    PartitionSummaryView,
    SystemSummaryView,
    ValidationReportView,
    read,
    read_list,
)
from openlpm.clients.credentials import token_for
from openlpm.clients.plain_wire import (
    CONSOLE_ANSWER_LIMIT,
    answer,
    segment,
    too_large,
    unreachable,
    wrong_encoding,
)
from openlpm.errors import SystemUnreachable

View = TypeVar("View", SystemSummaryView, PartitionSummaryView, ValidationReportView,
               MigrationRecordView, JournalEntryView)
CHUNK = 65536
TIMEOUT_S = 120.0  # HmcClient's
# What httpx's trust_env reads (its NO_PROXY rules with them): HmcClient's requests go
# through that proxy, so a command in such an environment asks through HmcClient.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def proxied() -> bool:
    return any(os.environ.get(name) or os.environ.get(name.upper())
               for name in PROXY_VARIABLES)


def goes_through_proxy(base_url: str) -> bool:
    """Whether HmcClient would ask the console at ``base_url`` through a proxy (its
    private socket never is)."""
    return not base_url.startswith("unix:") and proxied()


class _UnixConnection(http.client.HTTPConnection):
    """HTTP on the console's private socket (``unix:PATH``, what the SSH door gives the
    commands it runs)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("console", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class ConsoleReader:
    """The console's listings as a signed-in user: the token comes from ``token`` or, by
    default, from the credentials ``openlpm login`` saved for this console."""

    what = "HMC"
    answer_limit = CONSOLE_ANSWER_LIMIT

    def __init__(self, base_url: str, token: str | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        token = token or token_for(base_url)
        self._token, self._tls = token, tls
        self._through_httpx = False  # the console's private socket is never proxied
        self._headers = {"Accept-Encoding": "identity",  # as HmcClient's
                         **({"Authorization": f"Bearer {token}"} if token else {})}
        if base_url.startswith("unix:"):
            self.base_url, self._prefix = "http://console", ""
            self._connection: http.client.HTTPConnection = _UnixConnection(base_url[5:],
                                                                           TIMEOUT_S)
            return
        self.base_url = base_url
        url = urlsplit(base_url)
        self._prefix = url.path.rstrip("/")
        self._through_httpx = proxied()
        if url.scheme == "https":
            self._connection = http.client.HTTPSConnection(
                url.hostname or "", url.port or 443, timeout=TIMEOUT_S,
                context=tls or hmc_trust(base_url) or system_trust())
        elif url.scheme == "http":
            self._connection = http.client.HTTPConnection(url.hostname or "", url.port or 80,
                                                          timeout=TIMEOUT_S)
        else:
            raise unreachable(self.what, base_url, ValueError(base_url), TRUST_HINT)

    def __enter__(self) -> ConsoleReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._connection.close()

    def systems(self) -> list[SystemSummaryView]:
        return self._list(SystemSummaryView, "/systems")

    def system(self, system: str) -> SystemSummaryView:
        return self._one(SystemSummaryView, f"/systems/{segment(system)}")

    def partitions(self, system: str) -> list[PartitionSummaryView]:
        return self._list(PartitionSummaryView, f"/systems/{segment(system)}/partitions")

    def mobile_partitions(self, system: str) -> list[PartitionSummaryView]:
        """As ``HmcClient.partitions(system, mobile=True)``."""
        return self._list(PartitionSummaryView,
                          f"/systems/{segment(system)}/partitions?mobile=true")

    def validate(self, request: dict[str, Any]) -> ValidationReportView:
        """``POST /validations`` of a request (``MigrationRequest.model_dump()``'s)."""
        return self._read_one(ValidationReportView, "/validations",
                              self.post("/validations", request))

    def migrate(self, request: dict[str, Any]) -> MigrationRecordView:
        """``POST /migrations``: the migration's first record."""
        return self._read_one(MigrationRecordView, "/migrations",
                              self.post("/migrations", request))

    def journal(self, migration_id: str) -> list[JournalEntryView]:
        return self._list(JournalEntryView, f"/migrations/{segment(migration_id)}/journal")

    def follow(self, migration_id: str) -> Iterator[MigrationRecordView]:
        """The migration's record each time it changes, until it is finished (as
        ``HmcClient.follow``: its Server-Sent Events, each record read as it comes).

        Raises as ``get``; SystemUnreachable when the console is lost on the way or a
        record is over the answer limit or not a record.
        """
        path = f"/migrations/{segment(migration_id)}/events"
        last: MigrationRecordView | None = None
        try:
            for data in self.events(path):
                try:
                    last = read(MigrationRecordView, json.loads(data))
                except (ValueError, RecursionError) as exc:  # AnswerInvalid is one
                    raise self._not_its_api(path, AnswerInvalid(str(exc))) from None
                yield last
        except (OSError, http.client.HTTPException) as exc:
            raise SystemUnreachable(f"Lost the {self.what} at {self.base_url} while "
                                    f"following migration {migration_id}: {exc!r}.") from exc
        # The console ends the stream after the finished record only: a stream that
        # stops before it is a console gone (http.client may read a killed console's
        # closed connection as the stream's end, where httpx saw a body cut short).
        if last is None or not last.state.finished:
            raise SystemUnreachable(f"Lost the {self.what} at {self.base_url} while "
                                    f"following migration {migration_id}: the stream "
                                    f"ended before the migration did.")

    def _one(self, view: type[View], path: str) -> View:
        return self._read_one(view, path, self.get(path))

    def _read_one(self, view: type[View], path: str, body: Any) -> View:  # noqa: ANN401
        try:
            return read(view, body)
        except AnswerInvalid as exc:
            raise self._not_its_api(path, exc) from None

    def _list(self, view: type[View], path: str) -> list[View]:
        body = self.get(path)
        try:
            return read_list(view, body)
        except AnswerInvalid as exc:
            raise self._not_its_api(path, exc) from None

    def get(self, path: str) -> Any:  # noqa: ANN401 - decoded JSON
        """``GET path``; returns the decoded JSON body.

        Raises the OpenLpmError the console sent, or SystemUnreachable: it did not answer
        (HSCLF107, HSCLF528), its answer is over the limit (HSCLF546) or is not JSON
        (HSCLF547).
        """
        if self._through_httpx:
            return self._get_by_httpx(path)
        return self._request("GET", path)

    def post(self, path: str, body: Any) -> Any:  # noqa: ANN401 - JSON both ways
        """``POST path`` with ``body`` as JSON, encoded as httpx's ``json=`` encodes it;
        returns and raises as ``get``. Never through a proxy: in such an environment
        migrlpar uses HmcClient (``goes_through_proxy``)."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                             allow_nan=False).encode()
        return self._request("POST", path, content)

    def _request(self, method: str, path: str, content: bytes | None = None) -> Any:  # noqa: ANN401
        headers = self._headers if content is None else {
            **self._headers, "Content-Type": "application/json"}
        try:
            self._connection.request(method, self._prefix + path, body=content,
                                     headers=headers)
            response = self._connection.getresponse()
            content = self._read(response)
        except (OSError, http.client.HTTPException) as exc:
            raise unreachable(self.what, self.base_url, exc, TRUST_HINT) from exc
        return answer(response.status, content, self.what, self.base_url)

    def events(self, path: str) -> Iterator[str]:
        """The ``data`` of each Server-Sent Event of ``GET path``, until the console ends
        the stream; no time-out while it lasts (as HmcClient's), each line under the
        answer limit. An error answer raises as ``get``; a connection lost raises its
        OSError or HTTPException."""
        try:
            self._connection.request("GET", self._prefix + path, headers=self._headers)
            response = self._connection.getresponse()
            if not 200 <= response.status < 300:
                answer(response.status, self._read(response), self.what, self.base_url)
            encoding = (response.getheader("content-encoding") or "identity").lower()
            if encoding != "identity":
                raise wrong_encoding(self.what, self.base_url, encoding)
        except (OSError, http.client.HTTPException) as exc:
            raise unreachable(self.what, self.base_url, exc, TRUST_HINT) from exc
        if self._connection.sock is not None:
            self._connection.sock.settimeout(None)
        try:
            while line := response.readline(self.answer_limit + 1):
                if len(line) > self.answer_limit:
                    raise too_large(self.what, self.base_url, self.answer_limit)
                text = line.decode(errors="replace").rstrip("\r\n")
                if text.startswith("data: "):
                    yield text[6:]
        finally:
            if self._connection.sock is not None:
                self._connection.sock.settimeout(TIMEOUT_S)

    def _get_by_httpx(self, path: str) -> Any:  # noqa: ANN401 - decoded JSON
        """``get`` by HmcClient, which goes through the proxy as httpx decides."""
        import asyncio

        from openlpm.clients.console import HmcClient

        async def one() -> Any:  # noqa: ANN401 - decoded JSON
            async with HmcClient(self.base_url, self._token, self._tls) as hmc:
                return await hmc.request("GET", path)

        return asyncio.run(one())

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        """The answer's body, refused once it is over the limit (the rest unread)."""
        encoding = (response.getheader("content-encoding") or "identity").lower()
        if encoding != "identity":
            raise wrong_encoding(self.what, self.base_url, encoding)
        declared = response.getheader("content-length") or ""
        limit = self.answer_limit
        if declared.isdigit() and int(declared) > limit:
            raise too_large(self.what, self.base_url, limit)
        chunks: list[bytes] = []
        received = 0
        while chunk := response.read(CHUNK):  # read(limit) would allocate it whole
            received += len(chunk)
            if received > limit:
                raise too_large(self.what, self.base_url, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _not_its_api(self, path: str, exc: AnswerInvalid) -> SystemUnreachable:
        return SystemUnreachable(
            f"{self.what} at {self.base_url} answered GET {path} with a body its API does "
            f"not give ({exc}). Check what answers at that address.", code="HSCLF547")
