"""Checks of the partition's virtual storage on the target (HMC checks 16, 17, 19, 32)."""

from __future__ import annotations

from collections.abc import Iterator

from openlpm.hmc.checks.facts import MigrationFacts, error, on_target, warning
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


@on_target
def storage_paths_kept(facts: MigrationFacts) -> Iterator[Finding]:
    """The partition's redundant storage paths (one per I/O service) are kept on the
    target (--mpio, --redundantvios)."""
    profile, target, request = facts.partition.profile, facts.target, facts.request
    if target is None:
        return
    used = profile.io_services
    losses = list(facts.target_lost_paths)
    if len(profile.on_io_services(target.io_services).io_services) < len(used):
        losses.insert(0, f"its adapters use {len(used)} I/O services and {target.name} has "
                         f"{target.io_services}")
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
