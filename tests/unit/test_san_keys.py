"""Who may use the SAN's control API: the console's key for everything, the agents' key
for their logins and the LUNs they see, nothing without a key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from openlpm.errors import NotPermitted, NotSignedIn, RequestInvalid
from openlpm.san.keys import KeyHolder, SanKeys
from openlpm.service import read_key_file


def bearer(keys: SanKeys, holder: KeyHolder) -> str:
    return f"Bearer {read_key_file(keys.path(holder))}"


def test_keys_are_made_once_owner_only_and_kept_across_restarts(tmp_path: Path) -> None:
    first = SanKeys(tmp_path / "keys")
    again = SanKeys(tmp_path / "keys")
    for holder in KeyHolder:
        assert stat.S_IMODE(first.path(holder).stat().st_mode) == 0o600
        assert bearer(first, holder) == bearer(again, holder)
    assert bearer(first, KeyHolder.CONSOLE) != bearer(first, KeyHolder.HOSTS)


def test_the_console_s_key_may_do_everything(tmp_path: Path) -> None:
    keys = SanKeys(tmp_path)
    for method, path in (("POST", "/luns"), ("DELETE", "/luns/{name}/mappings/{identity}"),
                         ("POST", "/logins"), ("GET", "/luns")):
        keys.check(bearer(keys, KeyHolder.CONSOLE), method, path)


def test_an_agent_s_key_may_log_in_and_list_but_not_change_mappings(tmp_path: Path) -> None:
    keys = SanKeys(tmp_path)
    for method, path in (("GET", "/luns"), ("GET", "/luns/{name}"), ("POST", "/logins")):
        keys.check(bearer(keys, KeyHolder.HOSTS), method, path)
    for method, path in (("POST", "/luns/{name}/mappings"), ("POST", "/luns"),
                         ("DELETE", "/luns/{name}")):
        with pytest.raises(NotPermitted, match="through the console") as refused:
            keys.check(bearer(keys, KeyHolder.HOSTS), method, path)
        assert refused.value.code == "HSCLF607"


@pytest.mark.parametrize("authorization", [None, "", "Bearer ", "Bearer wrong",
                                           "Basic c2VjcmV0"])
def test_no_key_or_a_wrong_one_is_refused(tmp_path: Path, authorization: str | None) -> None:
    with pytest.raises(NotSignedIn, match="--san-key-file") as refused:
        SanKeys(tmp_path).check(authorization, "GET", "/luns")
    assert refused.value.code == "HSCLF606"


def test_a_missing_or_empty_key_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty.key").write_text("\n")
    for path in (tmp_path / "none.key", tmp_path / "empty.key"):
        with pytest.raises(RequestInvalid, match=str(path)):
            read_key_file(path)
