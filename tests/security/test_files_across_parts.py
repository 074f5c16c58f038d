"""No file of a host reaches anyone through a request: a LUN is made only of an image
in the SAN's import directory, and a key exchange never goes to a plain-HTTP address."""

from __future__ import annotations

from openlpm.lab import site
from tests.integration.conftest import Lab
from tests.security.conftest import audited


def luns(lab: Lab) -> list[str]:
    return lab.values("openlpm", "san", "lslun", "-F", "name")


def test_a_lun_is_never_made_of_the_san_hosts_own_files(lab: Lab) -> None:
    """The fabric authority's key, copied into a LUN mapped to an attacker's WWPN, would
    let them pass for any port of the fabric."""
    key = site.LabState.directory(lab.state.prefix) / "san" / "fabric" / "authority" \
        / "authority.key"
    assert key.exists()
    for source in (str(key), "/etc/shadow", "../../etc/shadow",
                   f"{site.IMAGE_DIR}/../../../etc/shadow"):
        refused = lab.run("openlpm", "san", "mklun", "-l", "loot", "--source", source,
                          check=False)
        assert refused.returncode != 0 and "HSCLF618" in refused.stderr, (source, refused)
    assert "loot" not in luns(lab)
    assert "hscroot:POST /san/luns:failed:HSCLF618" in audited(lab)
    # An image in the import directory is what a LUN is made of.
    lab.run("openlpm", "san", "mklun", "-l", "fromimage", "--source",
            str(site.IMAGE_DIR / "root.img"))
    assert "fromimage" in luns(lab)
    lab.run("openlpm", "san", "rmlun", "-l", "fromimage")


def test_keys_are_never_exchanged_with_a_plain_http_console(lab: Lab) -> None:
    refused = lab.run("mkauthkeys", "--ip", f"http://{site.REMOTE_HMC_ADDRESS}:8480",
                      "-u", "hscroot", stdin="a-password\n", check=False)
    assert refused.returncode != 0 and "HSCLF540" in refused.stderr
    assert "hscroot:POST /authkeys:failed:HSCLF540" in audited(lab)
    assert lab.values("lsauthkeys", "--remote", "-F", "name") == ["No results were found."]
