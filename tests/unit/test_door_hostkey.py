"""The SSH door's host key: made once, private, the same at every start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from openlpm.errors import RequestInvalid
from openlpm.hmc.door.hostkey import default_path, fingerprint, host_key


def test_the_host_key_is_made_once_0600_and_reused(tmp_path: Path) -> None:
    path = default_path(tmp_path / "hmc.db")
    assert path == tmp_path / "ssh_host_ed25519_key"
    made = host_key(path)
    assert made.algorithm == b"ssh-ed25519"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fingerprint(host_key(path)) == fingerprint(made)
    assert fingerprint(made).startswith("SHA256:")
    assert path.with_name(path.name + ".pub").read_bytes().startswith(b"ssh-ed25519 ")


def test_a_host_key_made_readable_by_others_is_made_private_again(tmp_path: Path) -> None:
    path = tmp_path / "key"
    host_key(path)
    path.chmod(0o644)
    host_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_that_is_no_key_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("not a key\n")
    with pytest.raises(RequestInvalid) as caught:
        host_key(path)
    assert caught.value.code == "HSCLF824"
    assert path.read_text() == "not a key\n"
