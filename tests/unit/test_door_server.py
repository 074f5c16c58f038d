"""The SSH door with a real SSH client (asyncssh) on loopback: sign-in, the commands,
the audit, and what an attacker tries. The commands are stand-in scripts here; the
integration test (test_ssh_door.py) runs the real ones against a lab."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from openlpm.errors import NotSignedIn
from openlpm.hmc.access import passwords, signin
from openlpm.hmc.access.throttle import PER_USER
from openlpm.hmc.console import Console
from openlpm.hmc.door.hostkey import host_key
from openlpm.hmc.door.runner import STDIN_MAX
from openlpm.hmc.door.server import Door, Limits
from openlpm.model import Role
from tests.unit.signed_in import ADMIN

SCRIPTS = {
    # Prints what it was given: its argv, its environment's names, its token.
    "lssyscfg": 'echo "argv:$*"; echo "words:$OPENLPM_ARGV"; '
                'env | cut -d= -f1 | sort | tr "\\n" " "; echo; '
                'echo "token:$OPENLPM_TOKEN"; echo "api:$OPENLPM_HMC"',
    "migrlpar": 'echo "HSCLF505 User may not migrate." >&2; exit 12',
    "lshmcusr": 'printf "a\\nb\\n"',
    "mkauthkeys": 'read answer; echo "answer:$answer"',
    "chsysstate": 'echo $$ > "$0.pid"; exec sleep 60',
    "lssvcevents": "wc -c",
}


@dataclass
class Running:
    console: Console
    port: int
    bin_dir: Path

    def connect(self, user: str = ADMIN[0], password: str | None = ADMIN[1],
                **options: object) -> Any:
        settings: dict[str, object] = {"username": user, "known_hosts": None,
                                       "agent_path": None, "client_keys": None,
                                       "password": password} | options
        return asyncssh.connect("127.0.0.1", self.port, **settings)

    def audited(self) -> list[tuple[str, str, str, str | None]]:
        return [(e.user, e.action, e.result, e.code) for e in self.console.audit.events()]


@pytest.fixture
async def door(tmp_path: Path) -> AsyncIterator[Running]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in SCRIPTS.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    console = Console.open(tmp_path / "hmc.db", "hmc1", ADMIN)
    sock = socket.create_server(("127.0.0.1", 0))
    listening = Door(console, sock, host_key(tmp_path / "key"), "unix:/nowhere",
                     Limits(connections=4, connecting_per_address=2, auth_attempts=3,
                            connections_per_user=3,
                            sessions_per_connection=2, sessions_per_user=3, idle_s=5.0),
                     bin_dir=bin_dir)
    async with listening.running():
        yield Running(console, sock.getsockname()[1], bin_dir)
    console.users.close()
    console.audit.close()


async def test_a_command_runs_with_the_users_session_and_nothing_else(door: Running) -> None:
    async with door.connect() as conn:
        result = await conn.run("lssyscfg -r sys -F 'name,state'", env={"LD_PRELOAD": "x"})
        out = str(result.stdout)
        assert result.exit_status == 0
        # The words reach the child in its environment, which only its owner reads; its
        # argv, which every user of the host reads in /proc, holds none.
        assert "argv:\n" in out
        assert 'words:["-r", "sys", "-F", "name,state"]\n' in out
        names = out.splitlines()[2].split()
        assert set(names) <= {"PATH", "LANG", "HOME", "OPENLPM_HMC", "OPENLPM_TOKEN",
                              "OPENLPM_ARGV", "PWD", "SHLVL", "_"}
        token = out.split("token:")[1].split()[0]
        assert door.console.users.identify(token).name == "hscroot"
        assert "api:unix:/nowhere" in out
    await asyncio.sleep(0.2)
    with pytest.raises(NotSignedIn):
        door.console.users.identify(token)
    assert ("hscroot", "ssh lssyscfg -r sys -F name,state", "done", None) in door.audited()


async def test_output_bytes_and_exit_status_are_the_commands(door: Running) -> None:
    async with door.connect() as conn:
        listed = await conn.run("lshmcusr", encoding=None)
        assert listed.stdout == b"a\nb\n"
        failed = await conn.run("migrlpar -o m -m A -t B -p p1")
        assert failed.exit_status == 12
        assert str(failed.stderr).startswith("HSCLF505")
        answered = await conn.run("mkauthkeys --ip h2", input="yes\n")
        assert str(answered.stdout) == "answer:yes\n"
    assert ("hscroot", "ssh migrlpar -o m -m A -t B -p p1", "failed", "HSCLF505") in \
        door.audited()


@pytest.mark.parametrize(("line", "status", "code"), [
    ("cat /etc/passwd", 127, "HSCLF823"), ("bash", 127, "HSCLF823"),
    ("lssyscfg -r sys; id", 2, "HSCLF821"), ("lssyscfg -r sys $(id)", 2, "HSCLF821"),
    ("lssyscfg --help; bash", 2, "HSCLF821"), ("lssyscfg " + "x" * 20000, 2, "HSCLF820")])
async def test_a_line_outside_the_set_is_refused_and_audited(door: Running, line: str,
                                                             status: int, code: str) -> None:
    async with door.connect() as conn:
        result = await conn.run(line)
    assert result.exit_status == status
    assert str(result.stderr).startswith(code)
    assert str(result.stdout) == ""
    refused = [e for e in door.audited() if e[2] == "refused"]
    assert refused and refused[-1][0] == "hscroot" and refused[-1][3] == code


async def test_a_wrong_password_is_refused_audited_and_throttled(
        door: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signin, "FAILED_SIGN_IN_DELAY_S", 0.01)
    for _ in range(PER_USER.attempts):
        with pytest.raises(asyncssh.PermissionDenied):
            async with door.connect(password="wrong-password"):
                pass
    # The right password, once the user's failures reached the limit: refused unchecked.
    with pytest.raises(asyncssh.PermissionDenied):
        async with door.connect():
            pass
    events = door.audited()
    assert events.count(("hscroot", "sign in", "refused", "HSCLF501")) == PER_USER.attempts
    assert events[-1] == ("hscroot", "sign in", "refused", "HSCLF510")


async def test_a_user_name_no_console_user_could_have_is_refused(door: Running) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        async with door.connect(user="n" * 300, password="x"):
            pass
    assert door.audited()[-1][2:] == ("refused", "HSCLF501")


async def test_a_key_the_user_added_signs_in_and_a_removed_one_no_more(door: Running) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="me@laptop")
    with pytest.raises(asyncssh.PermissionDenied):
        async with door.connect(password=None, client_keys=[key]):
            pass
    door.console.users.add_key("hscroot", key.export_public_key().decode())
    async with door.connect(password=None, client_keys=[key]) as conn:
        assert (await conn.run("lshmcusr")).exit_status == 0
    assert ("hscroot", "sign in (ssh key)", "done", None) in door.audited()
    door.console.users.remove_key("hscroot", "me@laptop")
    with pytest.raises(asyncssh.PermissionDenied):
        async with door.connect(password=None, client_keys=[key]):
            pass


async def test_no_forwarding_no_sftp_no_subsystem(door: Running) -> None:
    async with door.connect() as conn:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", door.port)
        with pytest.raises((asyncssh.ChannelOpenError, asyncssh.SFTPError)):
            await conn.start_sftp_client()
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 22)
        other = await conn.run(subsystem="netconf")
        assert other.exit_status == 2 and str(other.stderr).startswith("HSCLF825")


async def test_an_interactive_session_runs_lines_until_exit(door: Running) -> None:
    async with door.connect() as conn:
        result = await conn.run(input="lshmcusr\ncat /etc/passwd\nexit\nlshmcusr\n")
    out = str(result.stdout)
    assert out.count("hscroot@hmc1:~> ") == 3
    assert "a\nb\n" in out
    assert str(result.stderr).startswith("HSCLF823")


async def test_a_terminal_session_echoes_and_translates_newlines(door: Running) -> None:
    async with door.connect() as conn:
        process = await conn.create_process(term_type="xterm", encoding=None)
        process.stdin.write(b"lshmcusx\x7fr\r")
        await asyncio.sleep(1.0)
        process.stdin.write(b"\x04")
        out = await asyncio.wait_for(process.stdout.read(), 10)
    assert b"\b \b" in out and b"a\r\nb\r\n" in out


async def test_the_child_is_killed_when_the_channel_closes(door: Running) -> None:
    pid_file = door.bin_dir / "chsysstate.pid"
    async with door.connect() as conn:
        process = await conn.create_process("chsysstate -r lpar -m A -o on -n p1")
        for _ in range(50):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        pid = int(pid_file.read_text())
        process.close()
        await asyncio.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_sessions_and_connections_are_bounded(door: Running) -> None:
    async with door.connect() as conn:
        held = [await conn.create_process() for _ in range(2)]
        third = await conn.run("lshmcusr")
        assert third.exit_status == 2 and "HSCLF826" in str(third.stderr)
        assert ("hscroot", "ssh session", "refused", "HSCLF826") in door.audited()
        for process in held:
            process.close()
    connections = [await door.connect() for _ in range(3)]
    # A fourth of the same user is dropped once signed in: one user (a viewer's
    # password, a script gone wrong) cannot hold every place.
    with pytest.raises((asyncssh.DisconnectError, asyncssh.ChannelOpenError,
                        ConnectionError)):
        async with door.connect() as fourth:
            await fourth.run("lshmcusr", check=True)
    door.console.users.create("ann", Role.VIEWER, passwords.make_hash("ann-password-1"))
    connections.append(await door.connect("ann", "ann-password-1"))
    with pytest.raises((asyncssh.DisconnectError, ConnectionError)):
        async with door.connect("ann", "ann-password-1"):
            pass
    for made in connections:
        made.close()


async def test_the_host_key_stays_private(door: Running, tmp_path: Path) -> None:
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600


async def test_a_refused_key_is_audited_and_guesses_are_bounded(door: Running) -> None:
    keys = [asyncssh.generate_private_key("ssh-ed25519") for _ in range(5)]
    with pytest.raises(asyncssh.PermissionDenied):
        async with door.connect(password=None, client_keys=keys[:1]):
            pass
    await asyncio.sleep(0.2)
    assert door.audited()[-1] == ("hscroot", "sign in (ssh key)", "refused", "HSCLF501")
    # Past auth_attempts refusals (keys offered, passwords), the door hangs up: a
    # connection is not a place to try keys or passwords without end.
    with pytest.raises(asyncssh.DisconnectError) as dropped:
        async with door.connect(password="wrong", client_keys=keys):
            pass
    assert "Too many failed sign-in attempts" in str(dropped.value)


async def test_connections_that_never_sign_in_hold_few_places(door: Running) -> None:
    # Many connections from one address that never sign in (a TCP connect and nothing
    # more) would keep every other client out until each one's login timeout.
    idle = [socket.create_connection(("127.0.0.1", door.port)) for _ in range(2)]
    try:
        await asyncio.sleep(0.3)
        with pytest.raises((asyncssh.DisconnectError, ConnectionError)):
            async with door.connect():
                pass
    finally:
        for sock in idle:
            sock.close()
    await asyncio.sleep(0.3)
    # Signed-in connections do not count among them.
    async with door.connect() as first, door.connect() as second, door.connect() as third:
        for conn in (first, second, third):
            assert (await conn.run("lshmcusr")).exit_status == 0


async def test_one_user_holds_a_bounded_number_of_sessions(door: Running) -> None:
    # Each session's command is a process on the console host: a viewer opening
    # sessions over many connections must not exhaust its memory.
    async with door.connect() as first, door.connect() as second:
        held = [await first.create_process() for _ in range(2)]
        held.append(await second.create_process())
        await asyncio.sleep(0.3)
        refused = await second.run("lshmcusr")
        assert refused.exit_status == 2 and "HSCLF826" in str(refused.stderr)
        for process in held:
            process.close()
        await asyncio.sleep(0.3)
        assert (await second.run("lshmcusr")).exit_status == 0


async def test_a_child_is_given_a_bounded_standard_input(door: Running) -> None:
    # A command reads one line there (a password); a client sending without end, with no
    # newline, would have the child's readline grow until the host's memory is gone.
    async with door.connect() as conn:
        result = await conn.run("lssvcevents -t console", input="x" * (4 * STDIN_MAX))
    assert result.exit_status == 0
    assert int(str(result.stdout)) == STDIN_MAX


async def test_keyboard_interactive_is_the_password_with_its_throttle(
        door: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signin, "FAILED_SIGN_IN_DELAY_S", 0.01)
    kbdint = {"preferred_auth": "keyboard-interactive"}
    async with door.connect(**kbdint) as conn:
        assert (await conn.run("lshmcusr")).exit_status == 0
    for _ in range(PER_USER.attempts):
        with pytest.raises(asyncssh.PermissionDenied):
            async with door.connect(password="wrong-password", **kbdint):
                pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with door.connect(**kbdint):
            pass
    assert door.audited()[-1] == ("hscroot", "sign in", "refused", "HSCLF510")


@pytest.mark.parametrize("options", [
    {"password": ""}, {"password": None}, {"username": "HSCROOT"}])
async def test_no_sign_in_without_the_password(door: Running, options: dict[str, Any]) -> None:
    # An empty password, none at all (the "none" method only), hscroot's password given
    # for a name that only looks like hscroot's.
    settings = {"user": options.pop("username", "hscroot")} | options
    with pytest.raises(asyncssh.DisconnectError):
        async with door.connect(**settings):
            pass


async def test_the_session_ends_with_the_door(tmp_path: Path) -> None:
    # The console stopping closes its stores right after the door: the door's sessions
    # are ended as it stops, not when each connection is gone (maybe never, then).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lssyscfg").write_text("#!/bin/sh\necho $OPENLPM_TOKEN\n")
    (bin_dir / "lssyscfg").chmod(0o755)
    console = Console.open(tmp_path / "hmc.db", "hmc1", ADMIN)
    sock = socket.create_server(("127.0.0.1", 0))
    listening = Door(console, sock, host_key(tmp_path / "key"), "unix:/nowhere",
                     bin_dir=bin_dir)
    async with listening.running():
        running = Running(console, sock.getsockname()[1], bin_dir)
        conn = await running.connect()
        token = str((await conn.run("lssyscfg -r sys")).stdout).strip()
        assert console.users.identify(token).name == "hscroot"
    with pytest.raises(NotSignedIn):
        console.users.identify(token)
    conn.close()
    console.users.close()
    console.audit.close()
