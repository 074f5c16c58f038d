"""Checks of the partition's virtual storage on the target (HMC checks 16, 17, 19)."""

from __future__ import annotations

from collections.abc import Iterator

from openlpm.hmc.checks.facts import MigrationFacts, error, on_target
from openlpm.model import Finding


@on_target
def storage_reachable(facts: MigrationFacts) -> Iterator[Finding]:
    """The target reaches the partition's SAN LUNs (NPIV: the SAN; vSCSI: each LUN)."""
    profile, target = facts.partition.profile, facts.target
    if target is None or not (profile.virtual_fc_adapters or profile.virtual_scsi_adapters):
        return
    if facts.san_url is None:
        yield error("HSCLF610", facts.name,
                    f"Partition {facts.name} has virtual FC or SCSI adapters, but this "
                    f"console manages no SAN.", "Start the console with --san-url.")
        return
    if facts.san_error is not None:
        yield error("HSCLF614", facts.name,
                    f"The SAN that holds the LUNs of {facts.name} does not answer: "
                    f"{facts.san_error}", "Bring the SAN back, then validate again; the "
                    "partition keeps running meanwhile.")
    elif target.san_url != facts.san_url:
        yield error("HSCLF613", target.name,
                    f"Managed system {target.name} is not connected to the SAN at "
                    f"{facts.san_url} that holds the LUNs of {facts.name} "
                    f"({'it has no SAN' if target.san_url is None else target.san_url}).",
                    "Connect its I/O service to that SAN (agent --san-url), or choose "
                    "another target.")
    elif facts.target_storage_error is not None:
        yield error("HSCLF611", target.name, facts.target_storage_error,
                    f"Map the LUN to {target.name} on the SAN, or choose another target.")
