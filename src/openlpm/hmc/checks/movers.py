"""Checks of the mover services that will carry an active migration (HMC check 33)."""

from __future__ import annotations

from collections.abc import Iterator

from openlpm.hmc.checks.facts import MigrationFacts, error
from openlpm.model import Finding


def movers_present(facts: MigrationFacts) -> Iterator[Finding]:
    """Each side has a mover service, and the ones named with -i exist."""
    if not facts.active or facts.target is None:
        return
    request = facts.request
    for system, wanted, flag in ((facts.source, request.source_msp_name, "source_msp_name"),
                                 (facts.target, request.dest_msp_name, "dest_msp_name")):
        names = [m.name for m in system.movers]
        if not names:
            yield error("HSCLF194", system.name,
                        f"Managed system {system.name} has no mover service running; an "
                        f"active migration needs one on each side.",
                        f"Start a mover service on {system.name} ('openlpm mover serve').")
        elif wanted is not None and wanted not in names:
            yield error("HSCLF195", system.name,
                        f"{flag}={wanted} is not a mover service of {system.name}.",
                        f"Name one of: {', '.join(names)}, or leave {flag} out.")


def movers_reach_each_other(facts: MigrationFacts) -> Iterator[Finding]:
    """The source mover opened a connection to the target mover's data port (a probe)."""
    probe = facts.mover_probe
    source, target = facts.source_mover(), facts.target_mover()
    if probe is None or probe.reachable or source is None or target is None:
        return
    yield error("HSCLF408", source.name,
                f"Mover service {source.name} cannot reach mover service {target.name} at "
                f"{probe.peer}: {probe.error}.",
                f"Check the migration network between {facts.source.name} and "
                f"{facts.request.target} (routes, firewall), or choose other movers.")
