"""Checks of the partition itself: its state, its devices, its own consent.

HMC validation checks 2, 15, 18, 21, 22 and 24 (``docs/validation.md``).
"""

from __future__ import annotations

from collections.abc import Iterator

from openlpm.hmc.mobility.checks.facts import MigrationFacts, error, warning
from openlpm.model import Finding, PartitionState


def not_migrating(facts: MigrationFacts) -> Iterator[Finding]:
    """The partition is not already migrating."""
    if any(m.partition == facts.name for m in facts.in_flight):
        yield error("HSCLF184", facts.name, f"Partition {facts.name} is already migrating.",
                    "Wait for that migration to end (lslparmigr -r lpar).")


def state_allows(facts: MigrationFacts) -> Iterator[Finding]:
    """Running (active migration) or Not Activated after one activation (inactive)."""
    partition = facts.partition
    if facts.kind is not None or any(m.partition == facts.name for m in facts.in_flight):
        return
    if partition.state == PartitionState.NOT_ACTIVATED:
        yield error("HSCLF185", facts.name,
                    f"Partition {facts.name} has never been activated, so it has no "
                    f"last-activated profile to migrate.", "Activate it once first.")
    else:
        yield error("HSCLF186", facts.name,
                    f"Partition {facts.name} is {partition.state.value}; only a Running or a "
                    f"Not Activated partition can migrate.",
                    "Wait until it is Running, or shut it down.")


def migration_enabled(facts: MigrationFacts) -> Iterator[Finding]:
    """migration_disabled is not set."""
    if facts.partition.profile.migration_disabled:
        source = facts.source.name
        yield error("HSCLF412", facts.name,
                    f"Partition {facts.name} has migration_disabled=1.",
                    f"Allow it with 'chsyscfg -r lpar -m {source} -p {facts.name} -i "
                    f'"migration_disabled=0"\'.')


def only_virtual_devices(facts: MigrationFacts) -> Iterator[Finding]:
    """Every device is virtual: nothing that exists on the source host only."""
    profile = facts.partition.profile
    for path in profile.disks:
        yield error("HSCLF413", facts.name,
                    f"Partition {facts.name} has disk {path}, a file on {facts.source.name} "
                    f"only.", "Move the disk to a SAN LUN, or remove it from the profile.")
    for network in profile.networks:
        yield error("HSCLF414", facts.name,
                    f"Partition {facts.name} has a {network}-mode network, whose NAT and "
                    f"connections live on {facts.source.name} only.",
                    "Replace it with a virtual Ethernet adapter on a VLAN.")
    for path in profile.shares:
        yield error("HSCLF415", facts.name,
                    f"Partition {facts.name} shares host directory {path} of "
                    f"{facts.source.name}.", "Remove the share from the profile.")
    for address in profile.io_slots:
        yield error("HSCLF416", facts.name,
                    f"Partition {facts.name} owns host device {address} of "
                    f"{facts.source.name} (passed through).",
                    "Remove the device from the partition before migrating.")


def guest_consents(facts: MigrationFacts) -> Iterator[Finding]:
    """The guest's mobility hook does not veto; a guest without one is a warning."""
    guest = facts.guest
    if guest is None or not facts.active:
        return
    if not guest.answered:
        yield warning("HSCLA246", facts.name,
                      f"Partition {facts.name} did not answer the mobility check: no "
                      f"mobility hook runs in it, so it cannot prepare for the move.",
                      "Nothing blocks the migration; install qemu-guest-agent and openlpm's "
                      "guest side (its mobility hook) in the partition to let it take part.")
    elif guest.veto is not None:
        yield error("HSCLF417", facts.name,
                    f"Partition {facts.name} refuses to migrate now: {guest.veto}.",
                    "Resolve what the partition reports, then validate again.")
