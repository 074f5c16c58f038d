"""The services' listeners answer without Nagle's delay on kept-alive connections, and a
service that cannot start says why."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from openlpm.cli.main import main
from openlpm.service import bind


def test_connections_accepted_by_a_service_listener_send_without_delay() -> None:
    listener = bind("127.0.0.1:0")
    with listener, socket.create_connection(listener.getsockname()[:2]):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_console_without_its_admin_password_file_says_so_and_does_not_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "admin-password"
    status = main(["hmc", "serve", "--config", "/dev/null", "--listen", "127.0.0.1:0",
                   "--db", str(tmp_path / "hmc.db"), "--admin-password-file", str(missing)])
    assert status != 0
    err = capsys.readouterr().err
    assert "HSCLF608" in err and str(missing) in err and "Traceback" not in err
