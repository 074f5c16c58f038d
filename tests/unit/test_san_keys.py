"""Who may use the SAN's control API: the console, known by its client certificate, for
everything; the systems, holding the hosts key, for their logins and the LUNs they see;
nobody else."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from openlpm.authority import CertificateAuthority, Use, certificate_request, ensure_key
from openlpm.errors import NotPermitted, NotSignedIn, RequestInvalid
from openlpm.san.keys import SanGuard
from openlpm.service import read_key_file

CONSOLE_CALLS = (("POST", "/luns"), ("DELETE", "/luns/{name}/mappings/{identity}"),
                 ("POST", "/luns/{name}/mappings"), ("GET", "/keys/hosts"), ("GET", "/info"))
HOST_CALLS = (("GET", "/luns"), ("GET", "/luns/{name}"), ("POST", "/logins"))


def certificate(tmp_path: Path, use: Use) -> str:
    """A certificate from the console's authority, for ``use``."""
    authority = CertificateAuthority(tmp_path / "authority", "hmc1 agent authority")
    key = tmp_path / f"{use.name}.key"
    ensure_key(key)
    return authority.issue(certificate_request(key.read_bytes(), "hmc1"), "hmc1", use=use)


def bearer(guard: SanGuard) -> str:
    return f"Bearer {guard.hosts_key}"


def test_the_hosts_key_is_made_once_owner_only_and_kept_across_restarts(
        tmp_path: Path) -> None:
    first = SanGuard(tmp_path / "keys")
    again = SanGuard(tmp_path / "keys")
    assert stat.S_IMODE(first.hosts_key_file.stat().st_mode) == 0o600
    assert first.hosts_key == again.hosts_key
    assert not (tmp_path / "keys" / "console.key").exists(), \
        "the console is known by its certificate, not a key file"


def test_the_console_s_client_certificate_may_do_everything(tmp_path: Path) -> None:
    guard = SanGuard(tmp_path / "keys")
    console = certificate(tmp_path, Use.CLIENT)
    for method, path in (*CONSOLE_CALLS, *HOST_CALLS):
        guard.check(console, None, method, path)


def test_a_system_s_server_certificate_from_the_same_authority_is_not_the_console(
        tmp_path: Path) -> None:
    guard = SanGuard(tmp_path / "keys")
    server = certificate(tmp_path, Use.SERVER)
    with pytest.raises(NotSignedIn) as refused:
        guard.check(server, None, "POST", "/luns")
    assert refused.value.code == "HSCLF606"
    with pytest.raises(NotPermitted):
        guard.check(server, bearer(guard), "POST", "/luns")


def test_the_hosts_key_may_log_in_and_list_but_not_change_mappings_or_read_keys(
        tmp_path: Path) -> None:
    guard = SanGuard(tmp_path / "keys")
    for method, path in HOST_CALLS:
        guard.check(None, bearer(guard), method, path)
    for method, path in CONSOLE_CALLS:
        with pytest.raises(NotPermitted, match="through the console") as refused:
            guard.check(None, bearer(guard), method, path)
        assert refused.value.code == "HSCLF607"


@pytest.mark.parametrize("authorization", [None, "", "Bearer ", "Bearer wrong",
                                           "Basic c2VjcmV0"])
def test_no_key_or_a_wrong_one_is_refused(tmp_path: Path, authorization: str | None) -> None:
    with pytest.raises(NotSignedIn, match="neither") as refused:
        SanGuard(tmp_path).check(None, authorization, "GET", "/luns")
    assert refused.value.code == "HSCLF606"


def test_something_that_is_no_certificate_is_no_identity(tmp_path: Path) -> None:
    with pytest.raises(NotSignedIn):
        SanGuard(tmp_path).check("-----BEGIN CERTIFICATE-----\nAAAA\n", None, "GET", "/luns")


def test_a_missing_or_empty_key_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty.key").write_text("\n")
    for path in (tmp_path / "none.key", tmp_path / "empty.key"):
        with pytest.raises(RequestInvalid, match=str(path)):
            read_key_file(path)
