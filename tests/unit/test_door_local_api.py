"""How the door's children reach the console: its API on a private Unix socket, which
``OPENLPM_HMC=unix:PATH`` names; and the door's options of ``hmc serve``."""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openlpm import config
from openlpm.clients.console import HmcClient
from openlpm.hmc.door.local_api import bind_unix, serving, socket_path
from openlpm.hmc.http.app import create_app
from openlpm.hmc.serve import add_arguments
from tests.unit.signed_in import ADMIN


def test_the_socket_is_made_0600_next_to_the_database(tmp_path: Path) -> None:
    path = socket_path(tmp_path / "hmc.db")
    assert path == tmp_path / "hmc.sock"
    sock = bind_unix(path)
    sock.close()
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    # One left by an earlier run is replaced; a file that is not a socket is not.
    bind_unix(path).close()
    other = tmp_path / "other.sock"
    other.write_text("mine")
    with pytest.raises(OSError):
        bind_unix(other)
    assert other.read_text() == "mine"


def test_a_command_reaches_the_console_by_its_socket_with_a_token(tmp_path: Path) -> None:
    path = socket_path(tmp_path / "hmc.db")
    sock = bind_unix(path)
    app = create_app(tmp_path / "hmc.db", name="hmc1", first_admin=ADMIN,
                     services=[lambda app: serving(app, sock)])
    with TestClient(app):
        console = app.state.console
        token, _ = console.users.open_session("hscroot")

        async def ask() -> tuple[str, int]:
            async with HmcClient(f"unix:{path}", token=token) as hmc:
                users = await hmc.users()
            async with HmcClient(f"unix:{path}", token="olpm_forged") as forged:
                try:
                    await forged.users()
                except Exception as exc:  # noqa: BLE001 - the error's code is checked
                    return users[0].name, getattr(exc, "exit_status", 0)
            return users[0].name, 0

        assert asyncio.run(ask()) == ("hscroot", 11)


def test_the_door_s_options_are_options_and_configuration_keys(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    path = tmp_path / "hmc.toml"
    path.write_text('ssh-listen = "198.18.0.2:22"\nssh-host-key = "/var/lib/k"\n')
    path.chmod(0o600)
    config.apply(parser, path)
    args = parser.parse_args([])
    assert (args.ssh_listen, args.ssh_host_key) == ("198.18.0.2:22", Path("/var/lib/k"))
    assert parser.parse_args(["--ssh-listen", "127.0.0.1:2222"]).ssh_listen == \
        "127.0.0.1:2222"
