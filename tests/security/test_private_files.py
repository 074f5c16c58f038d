"""Another user of the host reads none of what the lab's services keep.

The console's database (password hashes, token digests, other consoles' tokens, the
audit log), the keys, the lab's passwords and credentials, LUN images, partitions'
profiles and console logs: once a partition ran and wrote on its console, every file
under the lab's directory is its owner's only (certificates, public by nature, may be
read, and so may a socket, which takes write permission to connect to), every directory
0700, and the user nobody is refused when it tries to read the database, both where it
lies and through a link in a directory it may enter (so the file's own mode refuses it,
not only its directory's). A positive control: nobody reads a file anyone may read from
that same directory.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from openlpm.lab import site
from tests.integration.conftest import Lab

PROFILE = ("name=private1,min_mem=128,desired_mem=128,max_mem=128,min_procs=1,"
           "desired_procs=1,max_procs=1")
LUN = "private1"
# Public by nature: what clients pin and servers present.
CERTIFICATE_SUFFIXES = (".crt", "cert.pem")


@pytest.fixture(scope="module")
def ran(lab: Lab) -> Iterator[Path]:
    """The lab's directory once a partition ran and printed on its console, and a LUN
    was made."""
    lab.run("openlpm", "san", "mklun", "-l", LUN, "--size-mb", "8")
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", PROFILE)
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", "private1")
    lab.wait_ticks("sys1", "private1", more_than=0)
    yield site.LabState.directory(lab.state.prefix)
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "shutdown", "--immed",
            "-n", "private1", check=False)
    lab.run("rmsyscfg", "-r", "lpar", "-m", "sys1", "-n", "private1", check=False)
    lab.run("openlpm", "san", "rmlun", "-l", LUN, check=False)


def modes(root: Path) -> dict[Path, os.stat_result]:
    found = {root: root.lstat()}
    for directory, subdirectories, files in os.walk(root):
        for name in (*subdirectories, *files):
            path = Path(directory, name)
            found[path] = path.lstat()
    return found


def shown(root: Path, paths: list[Path], found: dict[Path, os.stat_result]) -> str:
    return ", ".join(f"{p.relative_to(root)} {stat.filemode(found[p].st_mode)}"
                     for p in paths)


def test_nothing_under_the_lab_is_open_to_group_or_others(ran: Path) -> None:
    found = modes(ran)
    directories = [p for p, s in found.items() if stat.S_ISDIR(s.st_mode)]
    files = [p for p, s in found.items() if not stat.S_ISDIR(s.st_mode)
             and not stat.S_ISLNK(s.st_mode)]
    loose_directories = [p for p in directories if stat.S_IMODE(found[p].st_mode) != 0o700]
    writable = [p for p in files if found[p].st_mode & 0o022]
    # A socket's read bit means nothing: connecting to it takes write permission.
    readable = [p for p in files if found[p].st_mode & 0o044
                and not p.name.endswith(CERTIFICATE_SUFFIXES)
                and not stat.S_ISSOCK(found[p].st_mode)]
    assert not loose_directories, shown(ran, loose_directories, found)
    assert not writable, shown(ran, writable, found)
    assert not readable, shown(ran, readable, found)


def test_the_secrets_and_the_guest_s_data_are_there_and_0600(ran: Path) -> None:
    """The walk above looked at these: each is where the lab keeps it."""
    expected = [
        "hmc.db", "hmc-tokens.key", "admin-password", "credentials.json",
        "authority/authority.key", "hmc-tls/console.key", "san/keys/hosts.key",
        "san/tls/san.key", f"san/luns/{LUN}.img", "san/luns.json", "sys1/san.json",
        "sys1/tls/agent.key", "sys1/profiles/private1.json", "sys1/run/private1.console",
        "sys1/run/private1/console.raw", "etc/hmc.toml", "etc/san.toml",
        "etc/sys1-agent.toml", "etc/sys1-mover.toml",
        "ssh_host_ed25519_key"]
    for name in expected:
        path = ran / name
        assert path.exists(), name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, \
            f"{name} {stat.filemode(path.stat().st_mode)}"
    for side in ("-wal", "-shm"):
        path = ran / f"hmc.db{side}"
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "nobody", "--", *command], text=True,
                          capture_output=True, timeout=30, check=False)


def test_the_user_nobody_cannot_read_the_console_s_database(ran: Path) -> None:
    database = ran / "hmc.db"
    refused = as_nobody("cat", str(database))
    assert refused.returncode != 0 and "Permission denied" in refused.stderr

    # Through a link in a directory nobody may enter, the file's own mode decides.
    with tempfile.TemporaryDirectory(dir=ran.parent.parent) as opened:
        room = Path(opened)
        room.chmod(0o755)
        (room / "hmc.db").hardlink_to(database)
        public = room / "public.txt"
        public.write_text("anyone\n")
        public.chmod(0o644)
        assert as_nobody("cat", str(public)).stdout == "anyone\n"
        refused = as_nobody("cat", str(room / "hmc.db"))
        assert refused.returncode != 0 and "Permission denied" in refused.stderr
