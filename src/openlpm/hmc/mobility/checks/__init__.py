"""Every validation check, in the order their findings are reported.

A check is a function of ``MigrationFacts`` yielding findings; its docstring's first line
says what it verifies and is shown by ``migrlpar -o v -d 5``. When another console
manages the target (``--ip``), that console runs the checks of its target system
(``TARGET_CHECKS``, each marked ``@on_target`` where it is defined) and this one the
others.
"""

from __future__ import annotations

from openlpm.hmc.mobility.checks import environment, movers, network, partition, resources, storage
from openlpm.hmc.mobility.checks.facts import TARGET_SIDE, Check, MigrationFacts
from openlpm.model import CheckResult, Finding

CHECKS: tuple[Check, ...] = (
    environment.target_reachable,
    environment.systems_operating,
    environment.versions_pair,
    environment.concurrency,
    partition.not_migrating,
    partition.state_allows,
    partition.migration_enabled,
    partition.only_virtual_devices,
    partition.guest_consents,
    resources.partition_name_free,
    resources.partition_id_free,
    resources.memory_available,
    resources.processors_available,
    resources.page_size_same,
    resources.accelerator_same,
    resources.processor_compatible,
    resources.convergence_safe,
    resources.streams_compatible,
    network.vlans_bridged,
    storage.adapter_mappings_possible,
    storage.storage_reachable,
    storage.storage_paths_kept,
    movers.movers_present,
    movers.movers_certified,
    movers.movers_reach_each_other,
)


def describe(check: Check) -> str:
    return (check.__doc__ or check.__name__).strip().splitlines()[0]

TARGET_CHECKS: frozenset[Check] = frozenset(c for c in CHECKS if c in TARGET_SIDE)


def run_checks(facts: MigrationFacts, checks: tuple[Check, ...] = CHECKS) -> \
        tuple[list[Finding], list[CheckResult]]:
    """Every finding of ``checks``, in their order, and what each check found."""
    findings: list[Finding] = []
    results = []
    for check in checks:
        found = list(check(facts))
        findings += found
        results.append(CheckResult(check=check.__name__, description=describe(check),
                                   found=len(found)))
    return findings, results
