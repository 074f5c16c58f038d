"""Attacks made for real against one lab shared by the whole package: each test is an
outsider on the management network or a weak console user trying a way in, and checks
it is refused, that nothing changed, and that the console audited the refusal."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

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
