"""Checks of the two systems and the consoles: reachable, operating, compatible, not busy.

HMC validation checks 1, 3, 4 and 5 (``docs/validation.md``).
"""

from __future__ import annotations

from collections.abc import Iterator

from openlpm.hmc.mobility.checks import versions
from openlpm.hmc.mobility.checks.facts import MigrationFacts, error, on_target, warning
from openlpm.model import Finding, MigrationKind


@on_target
def target_reachable(facts: MigrationFacts) -> Iterator[Finding]:
    """The target system's agent answers."""
    if facts.target is None:
        yield error("HSCLF183", facts.request.target,
                    f"Managed system {facts.request.target} cannot be reached: "
                    f"{facts.target_error}",
                    f"Check that the agent of {facts.request.target} runs and that this "
                    f"console can reach it (lssyscfg -r sys shows its state).")


@on_target
def systems_operating(facts: MigrationFacts) -> Iterator[Finding]:
    """Both systems are Operating, and the target is not in maintenance."""
    for system in (facts.source, facts.target):
        if system is not None and system.state != "Operating":
            yield error("HSCLF401", system.name,
                        f"Managed system {system.name} is {system.state}, not Operating.",
                        f"Bring {system.name} back to Operating, then validate again.")
    if facts.target is not None and facts.target.maintenance:
        yield error("HSCLF402", facts.target.name,
                    f"Managed system {facts.target.name} is in maintenance and takes no "
                    f"incoming migration.",
                    f"Choose another target, or end maintenance with 'openlpm maintenance "
                    f"-m {facts.target.name} --off'.")


@on_target
def versions_pair(facts: MigrationFacts) -> Iterator[Finding]:
    """Agent releases are a supported pair, and each mover matches its system."""
    source, target = facts.source, facts.target
    if target is None:
        return
    if not versions.supported(source.agent_version, target.agent_version):
        allowed = ", ".join(versions.targets_of(source.agent_version)) or "none"
        yield error("HSCLF403", target.name,
                    f"Managed system {source.name} runs openlpm {source.agent_version} and "
                    f"{target.name} runs {target.agent_version}; that pair is not in the "
                    f"supported pairing table.",
                    f"Upgrade one of them: from {versions.series(source.agent_version)} a "
                    f"migration may go to series {allowed}.")
    if not facts.active:
        return
    for system, mover in ((source, facts.source_mover()), (target, facts.target_mover())):
        if mover is not None and mover.version and versions.series(mover.version) != \
                versions.series(system.agent_version):
            yield error("HSCLF404", mover.name,
                        f"Mover service {mover.name} runs openlpm {mover.version} but its "
                        f"system {system.name} runs {system.agent_version}.",
                        f"Upgrade {mover.name} to the release of {system.name}'s agent.")


@on_target
def concurrency(facts: MigrationFacts) -> Iterator[Finding]:
    """Migrations in flight are below each system's and each mover's limit, else it waits."""
    kind = facts.kind
    if kind is None:
        return
    code = "HSCLF405" if kind == MigrationKind.ACTIVE else "HSCLF406"
    for system in (facts.source, facts.target):
        if system is None:
            continue
        limit = system.max_active_migrations if kind == MigrationKind.ACTIVE \
            else system.max_inactive_migrations
        busy = [m for m in facts.in_flight
                if m.kind == kind and system.name in (m.source, m.target)]
        if len(busy) >= limit:
            yield warning(code, system.name,
                          f"Managed system {system.name} already takes part in {len(busy)} "
                          f"{kind.value} migrations, its limit: this one will wait its turn.",
                          "Nothing to do; lslparmigr -r lpar shows the queue.")
    if kind == MigrationKind.ACTIVE:
        for mover in (facts.source_mover(), facts.target_mover()):
            if mover is None:
                continue
            busy = [m for m in facts.in_flight
                    if mover.name in (m.source_msp_name, m.dest_msp_name)]
            if len(busy) >= mover.max_migrations:
                yield warning("HSCLF407", mover.name,
                              f"Mover service {mover.name} already carries {len(busy)} "
                              f"migrations, its limit: this one will wait its turn.",
                              "Wait, or name another mover with "
                              "-i source_msp_name=..,dest_msp_name=...")
