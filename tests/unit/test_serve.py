"""The services' listeners answer without Nagle's delay on kept-alive connections, keep
them as long as their callers expect, and a service that cannot start says why."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi import FastAPI

from openlpm.cli.main import main
from openlpm.clients.wire import CONSOLE_ONLY_KEEPALIVE_S, KEEPALIVE_S
from openlpm.service import CONSOLE_ONLY_KEEP_ALIVE_S, KEEP_ALIVE_S, bind, server


def test_connections_accepted_by_a_service_listener_send_without_delay() -> None:
    listener = bind("127.0.0.1:0")
    with listener, socket.create_connection(listener.getsockname()[:2]):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_service_only_its_console_reaches_keeps_idle_connections_for_a_minute() -> None:
    assert server(FastAPI()).config.timeout_keep_alive == KEEP_ALIVE_S == 5
    kept = server(FastAPI(), keep_alive_s=CONSOLE_ONLY_KEEP_ALIVE_S).config.timeout_keep_alive
    assert kept == 60


def test_clients_drop_an_idle_connection_before_the_service_closes_it() -> None:
    # Reusing a connection the service is closing fails the call ("did not answer").
    assert KEEPALIVE_S < KEEP_ALIVE_S
    assert CONSOLE_ONLY_KEEPALIVE_S < CONSOLE_ONLY_KEEP_ALIVE_S


def test_a_console_without_its_admin_password_file_says_so_and_does_not_start(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "admin-password"
    status = main(["hmc", "serve", "--config", "/dev/null", "--listen", "127.0.0.1:0",
                   "--db", str(tmp_path / "hmc.db"), "--admin-password-file", str(missing)])
    assert status != 0
    err = capsys.readouterr().err
    assert "HSCLF608" in err and str(missing) in err and "Traceback" not in err
