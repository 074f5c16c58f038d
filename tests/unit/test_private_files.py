"""Secrets and guest data on disk are their owner's only (0600 files, 0700 directories),
also when an older openlpm or a looser umask left them readable, and other consoles'
tokens are sealed, so a copy of the console's database alone acts on no console."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from openlpm.agent.console import ConsoleLog
from openlpm.agent.profiles import ProfileRecord, ProfileStore
from openlpm.agent.settings import SettingsFile, SystemSettings
from openlpm.authority import CertificateAuthority
from openlpm.errors import InsufficientResources, WrongState
from openlpm.hmc.stores.consoles import Consoles, token_key_file
from openlpm.hmc.stores.database import open_database
from openlpm.model import ConsoleLine, PartitionProfile
from openlpm.private import make_private, write_private
from openlpm.san.luns import San


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most hosts give a process: files 0644, directories 0755."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loose(path: Path, mode_bits: int, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode_bits)
    return path


def test_a_tree_is_made_its_owner_s_only_and_links_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "state"
    image = loose(root / "luns" / "l1.img", 0o666)
    tool = loose(root / "bin" / "hook", 0o755)
    outside = loose(tmp_path / "elsewhere.txt", 0o644)
    (root / "link").symlink_to(outside)
    (root / "luns").chmod(0o777)

    make_private(root)

    assert (mode(root), mode(root / "luns"), mode(root / "bin")) == (0o700, 0o700, 0o700)
    assert (mode(image), mode(tool)) == (0o600, 0o700)
    assert mode(outside) == 0o644


def test_the_console_s_database_and_sqlite_s_side_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "console" / "hmc.db"
    db = open_database(path, "CREATE TABLE IF NOT EXISTS t (a);")
    db.execute("INSERT INTO t VALUES (1)")
    sides = [path.with_name(f"hmc.db{side}") for side in ("-wal", "-shm")]
    assert all(side.exists() for side in sides)
    assert [mode(p) for p in (path, *sides)] == [0o600, 0o600, 0o600]
    assert mode(path.parent) == 0o700
    db.close()


def test_a_database_left_readable_is_made_private_at_start(tmp_path: Path) -> None:
    path = tmp_path / "hmc.db"
    older = sqlite3.connect(path, isolation_level=None)
    older.execute("PRAGMA journal_mode=WAL")
    older.execute("CREATE TABLE t (a)")
    left = [path, path.with_name("hmc.db-wal"), path.with_name("hmc.db-shm")]
    for made in left:
        made.chmod(0o644)
    db = open_database(path, "CREATE TABLE IF NOT EXISTS t (a);")
    assert [mode(p) for p in left] == [0o600, 0o600, 0o600]
    db.close()
    older.close()


def remote_console_row(consoles: Consoles, tmp_path: Path, token: str) -> None:
    authority = CertificateAuthority(tmp_path / "b", "hmcb mover authority")
    consoles.add_remote("hmcb", "https://198.18.0.5:8480", "op", token,
                        authority.certificate_pem, None)


def test_another_console_s_token_is_sealed_with_a_key_kept_apart(tmp_path: Path) -> None:
    consoles = Consoles(tmp_path / "hmc.db")
    remote_console_row(consoles, tmp_path, "olpm_the-remote-secret")
    consoles.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("hmc.db*"))
    assert b"olpm_the-remote-secret" not in stored
    key = token_key_file(tmp_path / "hmc.db")
    assert key.parent == tmp_path and mode(key) == 0o600

    again = Consoles(tmp_path / "hmc.db")
    [remote] = again.remotes()
    assert again.credentials(remote)[0] == "olpm_the-remote-secret"

    # The database alone (another key beside it) opens nothing.
    key.unlink()
    copied = Consoles(tmp_path / "hmc.db")
    with pytest.raises(WrongState) as refused:
        copied.credentials(remote)
    assert refused.value.code == "HSCLF548" and "mkauthkeys" in refused.value.message


def test_a_token_an_older_console_kept_in_the_clear_is_sealed_at_start(
        tmp_path: Path) -> None:
    consoles = Consoles(tmp_path / "hmc.db")
    remote_console_row(consoles, tmp_path, "olpm_placeholder")
    consoles.close()
    with sqlite3.connect(tmp_path / "hmc.db") as older:
        older.execute("UPDATE remote_consoles SET token = 'olpm_kept-in-the-clear'")
    older.close()

    again = Consoles(tmp_path / "hmc.db")
    [remote] = again.remotes()
    assert again.credentials(remote)[0] == "olpm_kept-in-the-clear"
    [(stored,)] = sqlite3.connect(tmp_path / "hmc.db").execute(
        "SELECT token FROM remote_consoles").fetchall()
    assert stored.startswith("sealed1:")


def test_a_token_key_that_is_not_a_key_is_named(tmp_path: Path) -> None:
    loose(token_key_file(tmp_path / "hmc.db"), 0o600, "not a key\n")
    with pytest.raises(WrongState) as refused:
        Consoles(tmp_path / "hmc.db")
    assert refused.value.code == "HSCLF548"


def test_a_system_s_profiles_settings_and_console_logs_are_private(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles", "sys1")
    store.put(ProfileRecord(profile=PartitionProfile(
        name="p1", min_mem=256, desired_mem=256, max_mem=256, min_procs=1,
        desired_procs=1, max_procs=1)))
    settings = SettingsFile(tmp_path / "system.json")
    settings.write(SystemSettings())
    log = ConsoleLog(tmp_path / "run" / "p1.console", "sys1")
    (tmp_path / "run").mkdir()
    log.merge([ConsoleLine(t=1.0, text="root password: hunter2", system="sys1")])

    assert mode(tmp_path / "profiles") == 0o700
    assert mode(tmp_path / "profiles" / "p1.json") == 0o600
    assert mode(tmp_path / "system.json") == 0o600
    assert mode(tmp_path / "run" / "p1.console") == 0o600


def test_a_san_makes_its_state_private_at_start(tmp_path: Path) -> None:
    image = loose(tmp_path / "san" / "luns" / "l1.img", 0o644)
    listing = loose(tmp_path / "san" / "luns.json", 0o644, "[]")
    San("san1", tmp_path / "san", "127.0.0.1", 10809)
    assert (mode(image), mode(listing)) == (0o600, 0o600)
    for directory in ("", "luns", "fabric", "fabric/authority"):
        assert mode(tmp_path / "san" / directory) == 0o700


def test_a_private_file_replaces_a_link_at_its_path_and_never_writes_through_it(
        tmp_path: Path) -> None:
    victim = loose(tmp_path / "victim", 0o644, "kept")
    path = tmp_path / "dir" / "key.pem"
    path.parent.mkdir()
    path.symlink_to(victim)
    (tmp_path / "dir" / "key.pem.new").symlink_to(victim)  # where older openlpm wrote
    write_private(path, b"secret")
    assert (victim.read_text(), mode(victim)) == ("kept", 0o644)
    assert not path.is_symlink() and (path.read_bytes(), mode(path)) == (b"secret", 0o600)
    assert sorted(p.name for p in path.parent.iterdir()) == ["key.pem", "key.pem.new"]


def test_a_profile_that_does_not_fit_its_full_state_directory_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ProfileStore(tmp_path / "profiles", "sys2")
    profile = PartitionProfile(name="web1", min_mem=128, desired_mem=128, max_mem=128,
                               min_procs=1, desired_procs=1, max_procs=1)

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("openlpm.agent.profiles.write_private", full)
    with pytest.raises(InsufficientResources) as caught:
        store.put(ProfileRecord(profile=profile))

    assert caught.value.code == "HSCLF136" and "state directory" in caught.value.message
    assert not store.exists("web1")
