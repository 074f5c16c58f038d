"""Checks of the mover services that will carry an active migration (HMC check 33)."""

from __future__ import annotations

from collections.abc import Iterator

from openlpm.hmc.mobility.checks.facts import (
    MigrationFacts,
    chosen_mover,
    error,
    mover_ipaddr,
    on_target,
)
from openlpm.model import Finding, MoverInfo, SystemInfo


@on_target
def movers_present(facts: MigrationFacts) -> Iterator[Finding]:
    """Each side has a mover service, and the ones named with -i exist."""
    if not facts.active or facts.target is None:
        return
    request = facts.request
    for system, side, wanted, address, msp_id in (
            (facts.source, "source", request.source_msp_name, request.source_msp_ipaddr,
             request.source_msp_id),
            (facts.target, "dest", request.dest_msp_name, request.dest_msp_ipaddr,
             request.dest_msp_id)):
        names = [m.name for m in system.movers]
        if not names:
            yield error("HSCLF194", system.name,
                        f"Managed system {system.name} has no mover service running; an "
                        f"active migration needs one on each side.",
                        f"Start a mover service on {system.name} ('openlpm mover serve').")
        elif wanted is not None and wanted not in names:
            yield error("HSCLF195", system.name,
                        f"{side}_msp_name={wanted} is not a mover service of {system.name}.",
                        f"Name one of: {', '.join(names)}, or leave {side}_msp_name out.")
        elif msp_id is not None and system.mover_named_by_id(msp_id) in (
                None, *((n for n in names if n != wanted) if wanted else ())):
            yield _unknown_msp_id(system, side, msp_id, wanted)
        elif chosen_mover(system, wanted, address, msp_id) is None:
            offered = ", ".join(f"{m.name} {mover_ipaddr(m)}" for m in system.movers)
            yield error("HSCLF196", system.name,
                        f"No mover service of {system.name} "
                        f"{f'named {wanted} ' if wanted else ''}has the address {address}.",
                        f"Give {side}_msp_ipaddr one of the movers' addresses ({offered}), "
                        f"or leave it out.")


def _unknown_msp_id(system: SystemInfo, side: str, msp_id: int,
                    wanted: str | None) -> Finding:
    """HSCLF198: no mover has that MSP id, or it is not the mover named with it."""
    ids = ", ".join(f"{n} ({m.name})" for n, m in enumerate(system.movers, 1))
    found = system.mover_named_by_id(msp_id)
    what = f"is mover service {found}, not {side}_msp_name={wanted}" if found else \
        "is not the MSP id of a mover service"
    return error("HSCLF198", system.name, f"{side}_msp_id={msp_id} {what} of {system.name}.",
                 f"Give one of the MSP ids of {system.name}: {ids}, or leave {side}_msp_id "
                 f"out ('lslparmigr -r msp' lists them).")


@on_target
def movers_certified(facts: MigrationFacts) -> Iterator[Finding]:
    """For an encrypted stream, both movers hold a certificate from this console (or
    from a console it exchanged keys with)."""
    if not facts.active or not facts.encrypted:
        return
    for system, mover in ((facts.source, facts.source_mover()),
                          (facts.target, facts.target_mover())):
        if mover is None or system is None or certified_here(facts, mover):
            continue
        why = ("holds no certificate" if mover.certificate is None else
               f"holds a certificate from another authority ({mover.certificate.authority})")
        yield error("HSCLF422", mover.name,
                    f"Mover service {mover.name} of {system.name} {why}, so it cannot carry "
                    f"the encrypted stream.",
                    f"Issue it one with 'openlpm mover enroll -m {system.name}', or turn "
                    f"stream encryption off on both systems for a trusted network "
                    f"(migrlpar -o set -r sys -i stream_encryption=0).")


def certified_here(facts: MigrationFacts, mover: MoverInfo) -> bool:
    return (mover.certificate is not None
            and mover.certificate.authority_fingerprint in facts.authorities)


def movers_reach_each_other(facts: MigrationFacts) -> Iterator[Finding]:
    """The source mover opened a connection to the target mover's data port (a probe)."""
    probe = facts.mover_probe
    source, target = facts.source_mover(), facts.target_mover()
    if probe is None or probe.reachable or source is None or target is None:
        return
    if facts.encrypted and not all(certified_here(facts, m) for m in (source, target)):
        return  # movers_certified names the cause
    yield error("HSCLF408", source.name,
                f"Mover service {source.name} cannot reach mover service {target.name} at "
                f"{probe.peer}: {probe.error}.",
                f"Check the migration network between {facts.source.name} and "
                f"{facts.request.target} (routes, firewall), or choose other movers.")
