"""What another console may do here is what this console accepted, not what it says.

The ``/peer`` API passes calls on to this console's agents and movers for a migration
driven by another console. Any signed-in operator can reach it, as a peer console can:
each attack publishes a made-up migration record or none, then reaches for a partition
that is no such migration's, and must be refused with nothing changed and the refusal in
the audit log.
"""

from __future__ import annotations

import time
from typing import Any

from openlpm.model import MigrationKind, MigrationState
from tests.integration.conftest import Lab
from tests.security.conftest import audited, console_as

PROFILE = ("name={name},min_mem=128,desired_mem=128,max_mem=128,min_procs=1,"
           "desired_procs=1,max_procs=1")
AGENT = "/peer/systems/sys1/agent"


def record(migration_id: str, partition: str, source: str = "elsewhere",
           target: str = "sys1",
           state: MigrationState = MigrationState.IN_PROGRESS) -> dict[str, Any]:
    return {"id": migration_id, "partition": partition, "source": source,
            "target": target, "kind": MigrationKind.ACTIVE.value, "state": state.value,
            "started": time.time(), "driven_by": "hmcz"}


def refused(answer: Any) -> bool:
    return bool(answer.status_code == 403 and answer.json()["code"] == "HSCLF525")


def test_a_record_naming_a_partition_here_opens_it_to_no_one(lab: Lab) -> None:
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", PROFILE.format(name="victim"))
    operator = console_as(lab, "opal", "hmcoperator")

    assert refused(operator.put("/peer/migrations/mfake1", json=record("mfake1", "victim")))
    assert refused(operator.put("/peer/migrations/mfake2",
                                json=record("mfake2", "ghost", source="sys2")))
    for method, path in (("DELETE", f"{AGENT}/partitions/victim"),
                         ("POST", f"{AGENT}/partitions/victim/incoming"),
                         ("POST", f"{AGENT}/partitions/victim/incoming/finish"),
                         ("POST", f"{AGENT}/partitions/victim/keep")):
        assert refused(operator.request(method, path, json={})), (method, path)

    for path in (f"{AGENT}/partitions/victim", f"{AGENT}/partitions/victim/runtime",
                 f"{AGENT}/partitions/victim/console"):
        assert refused(operator.get(path)), path

    assert "victim" in lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "name")
    assert "opal:DELETE /peer/systems/sys1/agent/partitions/victim:failed:HSCLF525" \
        in audited(lab)


def test_an_accepted_migration_opens_only_its_own_partition(lab: Lab) -> None:
    """A record for a partition not here yet is taken (a migration would create it); it
    lets its console create that partition waiting for it, and touch nothing else."""
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", PROFILE.format(name="bystander"))
    operator = console_as(lab, "otto", "hmcoperator")
    accepted = record("mghost", "ghost")
    assert operator.put("/peer/migrations/mghost", json=accepted).status_code == 204
    try:
        assert refused(operator.put("/peer/migrations/mghost",
                                    json=record("mghost", "bystander")))
        assert refused(operator.delete(f"{AGENT}/partitions/bystander"))
        profile = {"name": "bystander2", "min_mem": 128, "desired_mem": 128,
                   "max_mem": 128, "min_procs": 1, "desired_procs": 1, "max_procs": 1}
        assert refused(operator.post(f"{AGENT}/partitions", json={
            "profile": profile, "incoming_migration": "mghost"}))
        assert refused(operator.post(f"{AGENT}/partitions", json={
            "profile": profile | {"name": "ghost"}, "incoming_migration": "mother"}))
        mover = "/peer/systems/sys1/movers/sys1-msp1/channels/incoming"
        assert refused(operator.post(mover, json={
            "migration_id": "mghost", "token": "C" * 32, "partition": "bystander"}))
        assert operator.post(mover, json={
            "migration_id": "mghost", "token": "C" * 32, "partition": "ghost",
            "forward_to": "unix:/run/anything"}).status_code == 400
        assert "bystander" in lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F",
                                         "name")
        # Another user of this console is not the console that announced it.
        other = console_as(lab, "olga", "hmcoperator")
        assert refused(other.put("/peer/migrations/mghost",
                                 json=accepted | {"state": MigrationState.FAILED.value}))
        assert refused(other.post(f"{AGENT}/partitions", json={
            "profile": profile | {"name": "ghost"}, "incoming_migration": "mghost"}))
    finally:
        operator.put("/peer/migrations/mghost",
                     json=accepted | {"state": MigrationState.FAILED.value})
