"""A value in a request's path reaches no other path behind the console.

An operator may unmap a LUN, not delete it. Unmapping a "mapping" named ``..`` (sent
encoded, ``%2e%2e``) reached the SAN as ``DELETE /luns/L``: the LUN itself, and its data,
gone. Each variant here is sent to the real console as an operator, over HTTPS: it is
refused, the LUN is still there, and the console audited the refusal. A positive
control maps and unmaps a real WWPN through the same route as the same operator, so a
refusal is the rule at work and not a route the operator cannot use.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from openlpm.lab import site
from tests.integration.conftest import Lab

LUN = "urlcheck1"
OPERATOR = ("opurl", "opurl-password")
WWPN = "c05076ffee000001"


@pytest.fixture(scope="module")
def lun(lab: Lab) -> Iterator[str]:
    lab.run("openlpm", "san", "mklun", "-l", LUN, "--size-mb", "8")
    yield LUN
    lab.run("openlpm", "san", "rmlun", "-l", LUN, check=False)


@pytest.fixture(scope="module")
def operator(lab: Lab) -> Iterator[httpx.Client]:
    """The console's API over HTTPS (its pinned certificate), as an operator who follows
    redirects (a path ending in an encoded "/" is redirected to the one without)."""
    user, password = OPERATOR
    lab.run("mkhmcusr", "-u", user, "-a", "hmcoperator", stdin=f"{password}\n")
    with httpx.Client(base_url=lab.state.hmc_url, timeout=60, follow_redirects=True,
                      verify=site.console_trust(lab.state)) as client:
        session = client.post("/login", json={"user": user, "password": password})
        session.raise_for_status()
        client.headers["Authorization"] = f"Bearer {session.json()['token']}"
        yield client


def luns(lab: Lab) -> list[str]:
    return lab.values("openlpm", "san", "lslun", "-F", "name:mappings")


def refusals(lab: Lab, user: str, action: str) -> list[str]:
    """The console's audit lines of ``user`` refused an action beginning with ``action``."""
    return [line for line in lab.values("lssvcevents", "-t", "console", "-i", "30", "-F",
                                        "user:text:result:code")
            if line.startswith(f"{user}:{action}") and ":refused:" in line]


@pytest.mark.parametrize("value", [
    "%2e%2e", "%2E%2E", "%2F", "..%2F..", "..%2f..", "%2e%2e%2F%2e%2e",
    f"..%2F..%2Fluns%2F{LUN}", "%2e%2e%2f"])
def test_an_operator_cannot_delete_a_lun_through_a_mapping_s_name(
        lab: Lab, lun: str, operator: httpx.Client, value: str) -> None:
    before = len(refusals(lab, OPERATOR[0], f"DELETE /san/luns/{lun}"))

    reply = operator.delete(f"/san/luns/{lun}/mappings/{value}")

    assert reply.status_code in (400, 403, 404, 405), reply.text
    assert reply.json()["code"] in ("HSCL350B", "HSCLF531", "HSCLF532"), reply.text
    assert f"{lun}:null" in luns(lab)
    # A path ending in "/" is redirected to the one without: the request followed is
    # the one refused, on the route it names (the LUN's own, for "../").
    after = refusals(lab, OPERATOR[0], f"DELETE /san/luns/{lun}")
    assert len(after) == before + 1, after


def test_the_lun_s_own_route_stays_a_super_administrator_s(
        lab: Lab, lun: str, operator: httpx.Client) -> None:
    for value in (lun, "%2e%2e", f"{lun}%2F", f"x%2F..%2F{lun}"):
        reply = operator.delete(f"/san/luns/{value}")
        assert reply.status_code in (403, 404), reply.text
        assert reply.json()["code"] in ("HSCL350B", "HSCLF532"), reply.text
    assert f"{lun}:null" in luns(lab)
    assert refusals(lab, OPERATOR[0], f"DELETE /san/luns/{lun}:refused:HSCL350B")


def test_the_operator_maps_and_unmaps_through_the_same_route(
        lab: Lab, lun: str, operator: httpx.Client) -> None:
    mapped = operator.post(f"/san/luns/{lun}/mappings", json={"identity": WWPN})
    assert mapped.status_code == 200, mapped.text
    assert f"{lun}:{WWPN}" in luns(lab)
    unmapped = operator.delete(f"/san/luns/{lun}/mappings/{WWPN}")
    assert unmapped.status_code == 200, unmapped.text
    assert f"{lun}:null" in luns(lab)
