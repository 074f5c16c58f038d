"""The listing commands' client of the console (clients/console_reader.py) finds, trusts,
signs in and reads answers as HmcClient does: the pinned certificate and no other, the
token, one connection, the console's errors as the same OpenLpmErrors, and the same
limits and refusals for answers no console gives."""

from __future__ import annotations

import gzip
import ssl
from pathlib import Path

import pytest

from openlpm.clients.console_reader import ConsoleReader
from openlpm.clients.console_views import PartitionSummaryView
from openlpm.errors import ObjectNotFound, OpenLpmError, SystemUnreachable
from openlpm.hmc.site.identity import ConsoleIdentity
from openlpm.model import (
    Partition,
    PartitionProfile,
    PartitionState,
    PartitionSummary,
    SystemSummary,
)
from tests.unit.console_http import Answer, serving

PARTITION = PartitionSummary(system="sys1", partition=Partition(
    profile=PartitionProfile(name="web1", lpar_id=1, min_mem=256, desired_mem=512,
                             max_mem=512, min_procs=1, desired_procs=1, max_procs=1),
    state=PartitionState.RUNNING))
SYSTEM = SystemSummary(name="sys1", state="Operating", agent_url="https://198.18.0.11:8470")
ANSWERS = {"/systems": Answer.json([SYSTEM.model_dump(mode="json")]),
           "/systems/sys1/partitions": Answer.json([PARTITION.model_dump(mode="json")])}


def identity(tmp_path: Path, name: str) -> ConsoleIdentity:
    return ConsoleIdentity(tmp_path / name, name, ("127.0.0.1",))


def test_a_listing_over_https_trusts_the_pinned_certificate_and_signs_in(
        tmp_path: Path) -> None:
    console = identity(tmp_path, "hmc")
    pinned = ssl.create_default_context(cafile=str(console.certificate))
    with serving(ANSWERS, tls=console.server_context()) as (url, seen), \
            ConsoleReader(url, token="olpm_t", tls=pinned) as reader:
        assert [s.name for s in reader.systems()] == ["sys1"]
        partitions = reader.partitions("sys1")
    assert partitions == [PartitionSummaryView(
        system="sys1", partition=partitions[0].partition)]
    assert (partitions[0].partition.name, partitions[0].partition.state) == (
        "web1", PartitionState.RUNNING)
    assert all(headers["Authorization"] == "Bearer olpm_t"
               and headers["Accept-Encoding"] == "identity" for _, headers in seen.requests)
    assert seen.connections == 1  # one TLS handshake for the whole command


def test_a_console_answering_with_another_certificate_is_not_trusted(tmp_path: Path) -> None:
    other = identity(tmp_path, "other")
    pinned = ssl.create_default_context(cafile=str(identity(tmp_path, "hmc").certificate))
    with serving(ANSWERS, tls=other.server_context()) as (url, _), \
            ConsoleReader(url, token="t", tls=pinned) as reader, \
            pytest.raises(SystemUnreachable) as refused:
        reader.systems()
    assert refused.value.code == "HSCLF528" and "OPENLPM_HMC_CA" in refused.value.message
    assert f"HMC at {url} answered with a certificate that is not trusted" in str(refused.value)


def test_the_console_s_error_is_the_same_error(tmp_path: Path) -> None:
    answers = {"/systems/nosuch/partitions": Answer.json(
        {"kind": "ObjectNotFound", "code": "HSCLF162", "message": "no nosuch",
         "details": {}}, 404)}
    with serving(answers) as (url, _), ConsoleReader(url, token="t") as reader, \
            pytest.raises(ObjectNotFound) as raised:
        reader.partitions("nosuch")
    assert (raised.value.code, raised.value.exit_status) == ("HSCLF162", 3)


@pytest.mark.parametrize(("answer", "code"), [
    (Answer(b"<html>proxy</html>"), "HSCLF547"),
    (Answer(gzip.compress(b"[]"), headers={"Content-Encoding": "gzip"}), "HSCLF547"),
    (Answer.json([{"system": "sys1", "partition": {"state": "Running"}}]), "HSCLF547"),
    (Answer.json([{"x": "y" * 2000}]), "HSCLF546"),
])
def test_an_answer_no_console_gives_is_refused(answer: Answer, code: str) -> None:
    with serving({"/systems/sys1/partitions": answer}) as (url, _), \
            ConsoleReader(url, token="t") as reader, \
            pytest.raises(SystemUnreachable) as refused:
        reader.answer_limit = 1024
        reader.partitions("sys1")
    assert refused.value.code == code and f"HMC at {url}" in refused.value.message


def test_a_console_that_does_not_answer_is_unreachable() -> None:
    with serving({}) as (url, _):
        pass  # closed: nothing listens there any more
    with ConsoleReader(url, token="t") as reader, pytest.raises(SystemUnreachable) as caught:
        reader.systems()
    assert caught.value.code == "HSCLF107" and caught.value.exit_status == 8


def test_the_console_s_private_socket_is_reached_as_unix_path(tmp_path: Path) -> None:
    """What the SSH door gives the commands it runs (OPENLPM_HMC=unix:PATH)."""
    with serving(ANSWERS, unix_path=str(tmp_path / "hmc.sock")) as (url, seen), \
            ConsoleReader(url, token="olpm_s") as reader:
        assert [s.name for s in reader.systems()] == ["sys1"]
    assert seen.requests[0][1]["Host"] == "console"
    assert seen.requests[0][1]["Authorization"] == "Bearer olpm_s"


def test_a_name_is_one_segment_of_the_path() -> None:
    with serving({}) as (url, seen), ConsoleReader(url, token="t") as reader, \
            pytest.raises(OpenLpmError, match="HTTP 404"):
        reader.partitions("a/../b")
    assert seen.requests[0][0] == "/systems/a%2F..%2Fb/partitions"


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_the_environment_names_is_used_as_httpx_uses_it(
        variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As HmcClient's (httpx's trust_env): through the proxy, unless NO_PROXY names the
    console."""
    with serving({}) as (closed, _):
        pass  # a proxy that does not answer
    monkeypatch.setenv(variable, closed)
    with serving(ANSWERS) as (url, seen):
        https_url = url.replace("http:", "https:") if variable == "HTTPS_PROXY" else url
        with ConsoleReader(https_url, token="t") as reader, \
                pytest.raises(SystemUnreachable, match=r"\(ConnectError\)"):
            reader.systems()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with ConsoleReader(url, token="t") as reader:
            assert [s.name for s in reader.systems()] == ["sys1"]
    assert len(seen.requests) == 1
