"""``migrlpar --all`` moves the partitions the console says can migrate: it asks for
``GET /systems/{s}/partitions?mobile=true``, and the console answers by the rule its
validation applies (``migration_kind``: Running, or Not Activated after one
activation), not by the command's own comparisons."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openlpm.hmc.site.systems import Site
from openlpm.model import PartitionState as S
from openlpm.model import PartitionSummary
from tests.unit.fakes import FakeAgent, profile
from tests.unit.signed_in import ADMIN, sign_in


@pytest.fixture
def sys1(monkeypatch: pytest.MonkeyPatch) -> FakeAgent:
    agent = FakeAgent("sys1")
    agent.add(profile("running"), S.RUNNING)
    agent.add(profile("stopped"), S.NOT_ACTIVATED)
    agent.add(profile("never"), S.NOT_ACTIVATED, activated_once=False)
    agent.add(profile("leaving"), S.MIGRATING_RUNNING)
    agent.add(profile("broken"), S.ERROR)
    agent.add(profile("booting"), S.STARTING)
    monkeypatch.setattr(Site, "agent", lambda _, system: agent)
    return agent


def names(console: TestClient, query: str) -> list[str]:
    reply = console.get(f"/systems/sys1/partitions{query}", headers=sign_in(console, *ADMIN))
    assert reply.status_code == 200, reply.text
    return [PartitionSummary.model_validate(s).partition.name for s in reply.json()]


def test_the_console_lists_the_partitions_that_can_migrate(
        console: TestClient, sys1: FakeAgent) -> None:
    assert names(console, "?mobile=true") == ["running", "stopped"]


def test_without_mobile_it_lists_every_partition(console: TestClient,
                                                 sys1: FakeAgent) -> None:
    every = ["running", "stopped", "never", "leaving", "broken", "booting"]
    assert names(console, "") == every
    assert names(console, "?mobile=false") == every
