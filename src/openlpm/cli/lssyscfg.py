"""lssyscfg: managed systems, partitions and their profiles, listed the HMC's way.

The command scripts loop over a site (``for m in ...; do lssyscfg -r lpar -m $m; done``),
so it starts fast: the standard library only, the console asked through
``ConsoleReader`` (no httpx, asyncio or pydantic), the answer read into the views of
``console_views.py``. ``tests/unit/test_listing_imports.py`` keeps it so.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from openlpm.cli.hmc_syntax import (
    HmcArgumentParser,
    door_words,
    listing,
    listing_options,
    parse_attributes,
    refuse_host_files,
)
from openlpm.cli.runner import run_reporting
from openlpm.clients.console_address import hmc_url
from openlpm.clients.console_reader import ConsoleReader
from openlpm.clients.console_views import PartitionSummaryView, SystemSummaryView
from openlpm.errors import RequestInvalid, partition_not_found

PROFILE_LISTS = ("disks", "networks", "shares", "io_slots")


class _Partition(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def lpar_id(self) -> int: ...


class Listed(Protocol):
    """What ``--filter`` looks at: a partition as the console lists it, as a view here
    or as ``model.PartitionSummary`` (lslparmigr, lshwres)."""

    @property
    def partition(self) -> _Partition: ...


ListedT = TypeVar("ListedT", bound=Listed)


def lssyscfg_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="lssyscfg", description="List managed systems, "
                               "partitions or partition profiles.")
    parser.add_argument("-r", dest="resource", required=True, choices=["sys", "lpar", "prof"])
    parser.add_argument("-m", dest="system", help="managed system (-r sys: only this one)")
    parser.add_argument("--filter", help='"lpar_names=A,B" or "lpar_ids=1,2"')
    listing_options(parser)
    return parser


def system_record(system: SystemSummaryView) -> dict[str, object]:
    info = system.info
    return {
        "name": system.name, "state": system.state, "agent_url": system.agent_url,
        "active_lpar_mobility_capable": 1, "inactive_lpar_mobility_capable": 1,
        "configurable_sys_procs": info.cpus if info else None,
        "curr_avail_sys_procs": info.free_cpus if info else None,
        "configurable_sys_mem": info.memory_mb if info else None,
        "curr_avail_sys_mem": info.free_memory_mb if info else None,
        "hypervisor": f"QEMU {info.qemu_version} ({info.accel})" if info else None,
        "maintenance": int(info.maintenance) if info else None,
        "agent_version": info.agent_version if info else None,
        "msp_names": ",".join(m.name for m in info.movers) if info else None,
        "io_services": info.io_services if info else None,
    }


def partition_record(summary_: PartitionSummaryView) -> dict[str, object]:
    p = summary_.partition
    state = p.state.value
    return {
        "name": p.name, "lpar_id": p.lpar_id, "lpar_env": "aixlinux", "state": state,
        "curr_profile": p.profile.profile_name, "default_profile": p.profile.profile_name,
        "curr_mem": p.curr_mem, "curr_procs": p.curr_procs,
        "lpar_proc_compat_mode": p.profile.proc_compat_mode,
        "migration_disabled": int(p.profile.migration_disabled),
        "migration_state": summary_.migration_state.value,
        "os_version": p.os_version or "Unknown",
        # The CPU model is the compatibility mode: the running one is the profile's.
        "curr_lpar_proc_compat_mode": p.profile.proc_compat_mode,
        "desired_lpar_proc_compat_mode": p.profile.proc_compat_mode,
        # RMC's nearest: the guest agent answered since the partition started.
        "rmc_state": "active" if p.os_version else "inactive",
        "uuid": p.uuid,
        # A client partition: the movers are not partitions.
        "msp": 0,
    }


def profile_record(summary_: PartitionSummaryView) -> dict[str, object]:
    p = summary_.partition.profile
    return {
        "name": p.profile_name, "lpar_name": p.name, "lpar_id": summary_.partition.lpar_id,
        "lpar_env": "aixlinux", "min_mem": p.min_mem, "desired_mem": p.desired_mem,
        "max_mem": p.max_mem, "proc_mode": "ded", "min_procs": p.min_procs,
        "desired_procs": p.desired_procs, "max_procs": p.max_procs,
        "lpar_proc_compat_mode": p.proc_compat_mode,
        "migration_disabled": int(p.migration_disabled), "kernel_args": p.kernel_args or None,
        "boot_device_slot": p.boot_device_slot, "firmware": p.firmware.value,
        **{name: ",".join(getattr(p, name)) or None for name in PROFILE_LISTS},
        "virtual_eth_adapters": ",".join(f"{a.slot}/0/{a.port_vlan_id}//0/0"
                                         for a in p.virtual_eth_adapters) or None,
        "virtual_fc_adapters": ",".join(f"{a.slot}/{a.wwpns[0]}/{a.wwpns[1]}/{a.io_service}"
                                        for a in p.virtual_fc_adapters) or None,
        "virtual_scsi_adapters": ",".join(f"{a.slot}/{'+'.join(a.luns)}/{a.io_service}"
                                          for a in p.virtual_scsi_adapters) or None,
    }


def lpar_filter(text: str | None) -> Callable[[Listed], bool]:
    if not text:
        return lambda _: True
    attributes = parse_attributes(text, {"lpar_names", "lpar_ids"}, "--filter")
    names = set(attributes.get("lpar_names", "").split(",")) - {""}
    id_texts = [i.strip() for i in attributes.get("lpar_ids", "").split(",") if i.strip()]
    if not all(i.isdigit() for i in id_texts):
        raise RequestInvalid(f"--filter lpar_ids takes partition ids (numbers), not "
                             f"{attributes['lpar_ids']}.", code="HSCLF013")
    ids = {int(i) for i in id_texts}
    return lambda s: s.partition.name in names or s.partition.lpar_id in ids


def filter_partitions(partitions: Sequence[ListedT], text: str | None,
                      system: str) -> list[ListedT]:
    """The partitions ``--filter`` keeps, in their order.

    Raises:
        ObjectNotFound: (HSCL8012, as the HMC) ``lpar_names`` names a partition the system
            does not have; known names given with it do not save the command.
    """
    keep = lpar_filter(text)
    chosen = [s for s in partitions if keep(s)]
    if text:
        wanted = parse_attributes(text, {"lpar_names", "lpar_ids"}, "--filter")
        named = [n for n in wanted.get("lpar_names", "").split(",") if n]
        known = {s.partition.name for s in partitions}
        unknown = [n for n in dict.fromkeys(named) if n not in known]
        if unknown:
            raise partition_not_found(unknown, system)
    return chosen


def _lssyscfg(args: argparse.Namespace, hmc: ConsoleReader) -> None:
    if args.resource == "sys":
        systems = [hmc.system(args.system)] if args.system else hmc.systems()
        listing([system_record(s) for s in systems], args)
        return
    if not args.system:
        raise RequestInvalid(f"lssyscfg -r {args.resource} needs -m SYSTEM.", code="HSCLF009")
    chosen = filter_partitions(hmc.partitions(args.system), args.filter, args.system)
    make = partition_record if args.resource == "lpar" else profile_record
    listing([make(s) for s in chosen], args)


def lssyscfg(argv: Sequence[str] | None = None) -> int:
    """As ``hmc_command.run_hmc_command``, without an event loop."""
    words = argv if argv is not None else door_words()
    through_door = argv is None and words is not None

    def body() -> None:
        args = lssyscfg_parser().parse_args(words)
        if through_door:
            refuse_host_files(args)
        with ConsoleReader(hmc_url()) as hmc:
            _lssyscfg(args, hmc)

    return run_reporting(body)
