"""mkauthkeys at a terminal shows the certificate the remote console answers with, and
asks for no password until the user said it is that console's."""

from __future__ import annotations

import argparse

import pytest

from openlpm.cli import authkeys
from openlpm.errors import RequestInvalid
from openlpm.model import MetCertificate

MET = MetCertificate(url="https://198.18.0.5:8480", fingerprint="AB:" * 31 + "CD")


class Console:
    """Answers the one question mkauthkeys asks before the password."""

    asked = 0

    async def remote_certificate(self, ip: str) -> MetCertificate:
        self.asked += 1
        return MET


def at_terminal(monkeypatch: pytest.MonkeyPatch, answer: str) -> list[str]:
    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or answer)
    return prompts


async def test_the_certificate_confirmed_at_a_terminal_is_the_one_insisted_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = at_terminal(monkeypatch, "y")
    args = argparse.Namespace(ip="hmcb", fingerprint=None)

    chosen = await authkeys._confirmed_fingerprint(args, Console())  # type: ignore[arg-type]

    assert chosen == MET.fingerprint
    assert MET.fingerprint in prompts[0] and MET.url in prompts[0]


async def test_a_certificate_not_confirmed_stops_before_the_password(
        monkeypatch: pytest.MonkeyPatch) -> None:
    at_terminal(monkeypatch, "")
    args = argparse.Namespace(ip="hmcb", fingerprint=None)

    with pytest.raises(RequestInvalid) as refused:
        await authkeys._confirmed_fingerprint(args, Console())  # type: ignore[arg-type]
    assert refused.value.code == "HSCLF541"


async def test_a_given_fingerprint_is_used_without_asking(
        monkeypatch: pytest.MonkeyPatch) -> None:
    at_terminal(monkeypatch, "n")
    console = Console()
    args = argparse.Namespace(ip="hmcb", fingerprint=MET.fingerprint)

    assert await authkeys._confirmed_fingerprint(args, console) == MET.fingerprint  # type: ignore[arg-type]
    assert console.asked == 0
