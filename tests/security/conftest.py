"""Attacks made for real against one lab shared by the whole package: each test is an
outsider on the management network or a weak console user trying a way in, and checks
it is refused, that nothing changed, and that the console audited the refusal."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from openlpm.lab import site
from tests.integration.conftest import Lab, running_lab


@pytest.fixture(scope="package")
def lab() -> Iterator[Lab]:
    with running_lab() as made:
        yield made


def from_namespace(lab: Lab, system: str, script: str) -> str:
    """Run a Python ``script`` inside the lab namespace ``system`` (sys1, sys2, san,
    client, ...): an attacker with a foothold there. Returns what it printed."""
    done = subprocess.run(["ip", "netns", "exec", f"{lab.state.prefix}-{system}",
                           sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"the attack script failed to run:\n{done.stdout}{done.stderr}")
    return done.stdout


def console_as(lab: Lab, user: str, role: str) -> httpx.Client:
    """An HTTPS client of the lab's console signed in as ``user``, made with ``role``
    (hmcviewer, hmcoperator, hmcsuperadmin) unless that user exists."""
    password = f"{user}-password"
    if user not in lab.values("lshmcusr", "-F", "name"):
        lab.run("mkhmcusr", "-u", user, "-a", role, stdin=f"{password}\n")
    client = httpx.Client(base_url=lab.state.hmc_url, timeout=60,
                          verify=site.console_trust(lab.state))
    session = client.post("/login", json={"user": user, "password": password})
    session.raise_for_status()
    client.headers["Authorization"] = f"Bearer {session.json()['token']}"
    return client


def audited(lab: Lab) -> list[str]:
    """The console's recent audit lines, as user:action:result:code."""
    return lab.values("lssvcevents", "-t", "console", "-i", "30", "-F",
                      "user:text:result:code")
