"""Checks of what the target must give the partition (HMC checks 7-10, 13, 14)."""

from __future__ import annotations

from collections.abc import Iterator

from openlpm.hmc.mobility.checks.facts import MigrationFacts, error, on_target, warning
from openlpm.model import Compression, Convergence, Finding


@on_target
def partition_name_free(facts: MigrationFacts) -> Iterator[Finding]:
    """No partition of the same name on the target."""
    target = facts.target
    if target is not None and any(p.name == facts.name for p in facts.target_partitions):
        yield error("HSCLF187", target.name,
                    f"Managed system {target.name} already has a partition named "
                    f"{facts.name}.", "Rename or remove one of them.")


@on_target
def partition_id_free(facts: MigrationFacts) -> Iterator[Finding]:
    """The requested dest_lpar_id is free; without one, say if the id will change."""
    target = facts.target
    if target is None:
        return
    taken = {p.lpar_id for p in facts.target_partitions}
    wanted = facts.request.dest_lpar_id
    if wanted is not None and wanted in taken:
        yield error("HSCLF188", target.name,
                    f"Partition id {wanted} is already used on {target.name}.",
                    "Choose a free dest_lpar_id, or leave it out.")
    elif wanted is None and facts.partition.lpar_id in taken:
        yield warning("HSCLF419", facts.name,
                      f"Partition id {facts.partition.lpar_id} is used on {target.name}, "
                      f"so {facts.name} will get another id there.",
                      "Give dest_lpar_id=N with -i to choose it.")


@on_target
def memory_available(facts: MigrationFacts) -> Iterator[Finding]:
    """The target has the partition's desired memory free (reservations counted)."""
    if facts.target is not None:
        yield from _capacity(facts, "memory", facts.target.free_memory_mb,
                             facts.partition.profile.desired_mem, "MB", ("HSCLF189", "HSCLF190"))


@on_target
def processors_available(facts: MigrationFacts) -> Iterator[Finding]:
    """The target has the partition's desired processors free (reservations counted)."""
    if facts.target is not None:
        yield from _capacity(facts, "processors", facts.target.free_cpus,
                             facts.partition.profile.desired_procs, "",
                             ("HSCLF191", "HSCLF192"))


def _capacity(facts: MigrationFacts, what: str, free: int, needed: int, unit: str,
              codes: tuple[str, str]) -> Iterator[Finding]:
    """Short of a resource: an error for a running partition, a warning for an inactive one.

    A running partition needs all of its current memory and processors on arrival: QEMU
    cannot shrink a guest while its pages cross, so the HMC's fall-back to the minimum
    applies to neither.
    """
    if free >= needed or facts.target is None:
        return
    target = facts.target.name
    amount = f"{needed} {unit}".strip()
    message = (f"Managed system {target} has {free} {unit} {what} available; partition "
               f"{facts.name} needs {amount}.").replace("  ", " ")
    if facts.active:
        yield error(codes[0], target, message,
                    f"Free {what} on {target} or choose another target.")
    else:
        yield warning(codes[1], target, message,
                      f"It will move, but not activate on {target} until {amount} {what} "
                      f"is free there.".replace("  ", " "))


@on_target
def page_size_same(facts: MigrationFacts) -> Iterator[Finding]:
    """Both systems use the same memory page size (the HMC's same-LMB-size rule)."""
    source, target = facts.source, facts.target
    if target is not None and source.page_size_kb != target.page_size_kb:
        yield error("HSCLF409", target.name,
                    f"Managed system {source.name} uses {source.page_size_kb} KB memory "
                    f"pages and {target.name} {target.page_size_kb} KB.",
                    "Migrate between systems with the same page size.")


@on_target
def accelerator_same(facts: MigrationFacts) -> Iterator[Finding]:
    """A running partition stays on the same accelerator (KVM or TCG)."""
    source, target = facts.source, facts.target
    if facts.active and target is not None and source.accel != target.accel:
        yield error("HSCLF193", target.name,
                    f"{source.name} runs partitions with {source.accel} and {target.name} "
                    f"with {target.accel}; a running partition cannot change accelerator.",
                    f"Choose a target that uses {source.accel}, or shut the partition "
                    f"down and migrate it inactive.")


@on_target
def processor_compatible(facts: MigrationFacts) -> Iterator[Finding]:
    """The target's QEMU offers the partition's CPU model with all of its features."""
    models = facts.target_cpu_models
    if models is None or facts.target is None:
        return
    wanted = facts.partition.profile.proc_compat_mode
    target = facts.target.name
    model = next((m for m in models if m.name == wanted), None)
    if model is None:
        yield error("HSCLF410", facts.name,
                    f"Processor compatibility mode {wanted} of partition {facts.name} is not "
                    f"a CPU model of {target}'s QEMU.",
                    f"Choose a model {target} offers (lssyscfg -r sys -m {target} -F "
                    f"lpar_proc_compat_modes).")
    elif model.unavailable_features:
        yield error("HSCLF411", facts.name,
                    f"Managed system {target} cannot offer CPU model {wanted} of partition "
                    f"{facts.name}: it lacks {', '.join(model.unavailable_features)}.",
                    "Choose another target, or give the partition a CPU model that both "
                    "systems offer (for example qemu64).")


def convergence_safe(facts: MigrationFacts) -> Iterator[Finding]:
    """The convergence policy is safe with the source's accelerator.

    QEMU's auto-converge throttles the guest's processors; under TCG (QEMU 7.2) that
    corrupts the guest's memory on the target, QEMU migrating alone as well
    (docs/reliability.md), so openlpm refuses it there.
    """
    chosen = facts.request.convergence or facts.source.convergence
    if facts.active and chosen == Convergence.AUTO_CONVERGE and facts.source.accel == "tcg":
        yield error("HSCLF420", facts.source.name,
                    f"Managed system {facts.source.name} runs partitions with TCG, where "
                    f"QEMU's auto-converge corrupts a migrating guest's memory.",
                    "Use convergence=precopy (the downtime limit grows by steps) or "
                    "convergence=postcopy.")


def streams_compatible(facts: MigrationFacts) -> Iterator[Finding]:
    """Post-copy is not combined with several streams or compression (QEMU cannot)."""
    request = facts.request
    postcopy = (request.convergence or facts.source.convergence) == Convergence.POSTCOPY
    multifd = request.streams > 1 or request.compression != Compression.NONE
    if facts.active and postcopy and multifd:
        yield error("HSCLF421", facts.name,
                    "Post-copy cannot be combined with several streams or compression: "
                    "QEMU does not support it.",
                    "Use streams=1 and compression=none with post-copy, or another "
                    "convergence policy.")
