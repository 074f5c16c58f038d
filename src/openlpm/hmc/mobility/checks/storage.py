"""Checks of the partition's virtual storage on the target (HMC checks 16, 17, 19, 32)."""

from __future__ import annotations

from collections.abc import Iterator

from openlpm.hmc.mobility.checks.facts import MigrationFacts, error, on_target, warning
from openlpm.model import Finding


@on_target
def adapter_mappings_possible(facts: MigrationFacts) -> Iterator[Finding]:
    """Each requested adapter mapping names an adapter of the partition and an I/O
    service of the target (virtual_fc_mappings, virtual_scsi_mappings)."""
    profile, target, request = facts.partition.profile, facts.target, facts.request
    if target is None:
        return
    for kind, subtype, adapters, mappings in (
            ("virtual FC", "fc", profile.virtual_fc_adapters, request.virtual_fc_mappings),
            ("virtual SCSI", "scsi", profile.virtual_scsi_adapters,
             request.virtual_scsi_mappings)):
        slots = sorted(a.slot for a in adapters)
        for mapping in mappings:
            if mapping.slot not in slots:
                yield error("HSCLF617", facts.name,
                            f"virtual_{subtype}_mappings names slot {mapping.slot}, and "
                            f"partition {facts.name} has no {kind} adapter there (its "
                            f"{kind} slots: {', '.join(map(str, slots)) or 'none'}).",
                            f"Map the slots of its {kind} adapters (lshwres -r virtualio "
                            f"--rsubtype {subtype}).")
            elif mapping.io_service > target.io_services:
                yield error("HSCLF617", target.name,
                            f"virtual_{subtype}_mappings puts slot {mapping.slot} of "
                            f"{facts.name} on I/O service {mapping.io_service}, and "
                            f"managed system {target.name} has {target.io_services}.",
                            f"Choose an I/O service from 1 to {target.io_services} "
                            f"(lslparmigr -r virtualio lists the possible ones).")


@on_target
def storage_reachable(facts: MigrationFacts) -> Iterator[Finding]:
    """The target reaches the partition's SAN LUNs (NPIV: the SAN; vSCSI: each LUN)."""
    profile, target = facts.partition.profile, facts.target
    if target is None or not (profile.virtual_fc_adapters or profile.virtual_scsi_adapters):
        return
    if facts.san_url is None:
        yield error("HSCLF610", facts.name,
                    f"Partition {facts.name} has virtual FC or SCSI adapters, but this "
                    f"console manages no SAN.",
                    "Connect the SAN: 'mksysconn --ip ADDRESS -r san --passwd CODE'.")
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
                    "Add it to the console connected to that SAN (or connect the SAN "
                    "again, 'mksysconn -r san', which gives it to every system), or "
                    "choose another target.")
    elif facts.target_storage_error is not None:
        yield error("HSCLF611", target.name, facts.target_storage_error,
                    f"Map the LUN to {target.name} on the SAN, or choose another target.")


@on_target
def storage_paths_kept(facts: MigrationFacts) -> Iterator[Finding]:
    """The partition's redundant storage paths (one per I/O service) are kept on the
    target (--mpio, --redundantvios)."""
    profile, target, request = facts.partition.profile, facts.target, facts.request
    if target is None:
        return
    used = profile.io_services
    kept = request.placed(profile, target.io_services).io_services
    losses = list(facts.target_lost_paths)
    if len(kept) < len(used):
        fewer = (f"{target.name} has {target.io_services}" if target.io_services < len(used)
                 else f"the requested mappings put them on {len(kept)}")
        losses.insert(0, f"its adapters use {len(used)} I/O services and {fewer}")
    if not losses:
        return
    message = (f"Partition {facts.name} would keep fewer paths to its storage on "
               f"{target.name}: {'; '.join(losses)}.")
    if request.mpio == 1 or request.redundant_vios == 1:
        yield error("HSCLF616", target.name, message,
                    f"Give {target.name} the I/O services and LUN mappings the partition "
                    f"uses (agent --io-services, 'openlpm san map --io-service'), or "
                    f"accept fewer paths with --mpio 2 --redundantvios 2.")
    elif request.redundant_vios != 0 or request.mpio == 2:
        yield warning("HSCLF616", target.name, message + " The migration goes on with the paths "
                      f"{target.name} has.",
                      "Use --mpio 1 to require every path, or --redundantvios 0 to migrate "
                      "without this warning.")
