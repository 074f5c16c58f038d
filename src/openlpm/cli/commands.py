"""The HMC-compatible commands: mksyscfg, rmsyscfg, chsyscfg, chsysstate, migrlpar,
lslparmigr (lssyscfg is ``lssyscfg.py``'s).

Each parses its arguments the HMC's way, builds the request object the REST API takes,
and prints the HMC's listing format (``attr=value,...`` or ``-F`` values).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from openlpm.cli.attributes import NO_RESULTS
from openlpm.cli.findings import finding_lines, summary_lines
from openlpm.cli.hmc_command import run_hmc_command
from openlpm.cli.hmc_syntax import HmcArgumentParser, listing, listing_options, parse_attributes
from openlpm.cli.lssyscfg import PROFILE_LISTS, filter_partitions, lpar_filter
from openlpm.cli.migration_input import (
    DEFAULT_POOL_ID,
    DEFAULT_POOL_NAME,
    input_data,
    items,
    migration_fields,
    migrlpar_parser,
    validated,
)

# migrlpar's words, re-exported: the tests and benches name them as commands'.
from openlpm.cli.migration_input import MIGRATION_ATTRIBUTES as MIGRATION_ATTRIBUTES
from openlpm.cli.migration_input import NO_EFFECT as NO_EFFECT
from openlpm.cli.migration_input import adapter_mappings as adapter_mappings
from openlpm.cli.migration_input import processor_pool as processor_pool
from openlpm.cli.migration_input import vlan_mappings as vlan_mappings
from openlpm.cli.runner import report_error
from openlpm.cli.steps import journal_lines, pass_lines, summary
from openlpm.clients.console import HmcClient
from openlpm.errors import (
    MigrationFailed,
    ObjectNotFound,
    RequestInvalid,
    SystemUnreachable,
    ValidationFailed,
    partition_not_found,
)
from openlpm.model import (
    MAX_IO_SERVICES,
    MigrationRecord,
    MigrationRequest,
    MigrationState,
    PartitionProfile,
    PartitionSummary,
    SystemInfo,
)

PROFILE_ATTRIBUTES = {"name", "lpar_id", "profile_name", "min_mem", "desired_mem", "max_mem",
                      "min_procs", "desired_procs", "max_procs", "lpar_proc_compat_mode",
                      "lpar_env", "proc_mode", "migration_disabled", "kernel_args",
                      "boot_device_slot", "firmware",
                      "virtual_eth_adapters", "virtual_fc_adapters", "virtual_scsi_adapters",
                      *PROFILE_LISTS}
SYSTEM_MIGRATION_ATTRIBUTES = {"convergence", "max_downtime_ms", "stream_encryption"}
MIGRATION_LISTING = ("migration_type", "source_sys_name", "dest_sys_name", "dest_lpar_id",
                     "source_msp_name", "source_msp_id", "dest_msp_name", "dest_msp_id",
                     "remote_manager", "remote_user", "migration_step", "bytes_transmitted",
                     "bytes_remaining", "rate")


def _partition_options(parser: argparse.ArgumentParser, name_flag: str) -> None:
    """The partition by name (``-n`` or ``-p``, as each HMC command spells it) or by id."""
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument(name_flag, dest="partition", help="partition name")
    who.add_argument("--id", dest="lpar_id", type=int, help="partition id")


# -- mksyscfg -----------------------------------------------------------------------------


def mksyscfg_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="mksyscfg", description="Create a partition and its "
                               "profile on a managed system.")
    parser.add_argument("-r", dest="resource", required=True, choices=["lpar"],
                        help="resource type: lpar")
    parser.add_argument("-m", dest="system", required=True, help="managed system")
    parser.add_argument("-i", dest="attributes", required=True, help=(
        '"name=P,profile_name=default,min_mem=MB,desired_mem=MB,max_mem=MB,min_procs=N,'
        'desired_procs=N,max_procs=N[,lpar_id=N][,lpar_proc_compat_mode=CPU_MODEL]'
        '[,migration_disabled=0|1][,kernel_args=ARGS][,boot_device_slot=SLOT]'
        '[,firmware=bios|uefi]'
        '[,\\"disks=FILE,...\\"][,networks=user][,\\"shares=DIR,...\\"]'
        '[,\\"io_slots=PCI_ADDRESS,...\\"]'
        '[,\\"virtual_eth_adapters=SLOT/VLAN,...\\"]'
        '[,\\"virtual_fc_adapters=SLOT[/WWPN/WWPN][/IO_SERVICE],...\\"]'
        '[,\\"virtual_scsi_adapters=SLOT/LUN[+LUN...][/IO_SERVICE],...\\"]" (disks, '
        'networks, shares and io_slots are host-local devices: a partition with any of them '
        'cannot migrate; disks, shares and io_slots need the role hmcsuperadmin, disks and '
        "shares are absolute paths under a directory the system's agent allows (agent serve "
        '--allow-dir), io_slots PCI addresses such as 0000:03:00.0; '
        'a virtual FC adapter given without WWPNs gets a new pair; '
        "IO_SERVICE: the system's I/O service hosting the adapter, 1 by default, two "
        'adapters on different ones are redundant paths; boot_device_slot: the virtual FC '
        "or SCSI adapter whose LUN holds the partition's own operating system, started by "
        'firmware (SeaBIOS, or OVMF with firmware=uefi) instead of the system\'s kernel; '
        'kernel_args then reach the guest through fw_cfg)'))
    return parser


def profile_from(attributes: Mapping[str, str]) -> PartitionProfile:
    if attributes.get("lpar_env", "aixlinux") != "aixlinux":
        raise RequestInvalid("lpar_env must be aixlinux: openlpm partitions run Linux.",
                             code="HSCLF005")
    if attributes.get("migration_disabled", "0") not in ("0", "1"):
        raise RequestInvalid("migration_disabled must be 0 or 1.", code="HSCLF007")
    if attributes.get("proc_mode", "ded") != "ded":
        raise RequestInvalid("proc_mode must be ded: partitions have dedicated virtual "
                             "processors.", code="HSCLF006")
    fields: dict[str, object] = {k: v for k, v in attributes.items()
                                 if k not in ("lpar_env", "proc_mode")}
    for name in PROFILE_LISTS:
        if name in attributes:
            fields[name] = tuple(v.strip() for v in attributes[name].split(",") if v.strip())
    if "virtual_eth_adapters" in attributes:
        fields["virtual_eth_adapters"] = eth_adapters(attributes["virtual_eth_adapters"])
    if "virtual_fc_adapters" in attributes:
        fields["virtual_fc_adapters"] = fc_adapters(attributes["virtual_fc_adapters"])
    if "virtual_scsi_adapters" in attributes:
        fields["virtual_scsi_adapters"] = scsi_adapters(attributes["virtual_scsi_adapters"])
    if "lpar_proc_compat_mode" in fields:
        fields["proc_compat_mode"] = fields.pop("lpar_proc_compat_mode")
    try:
        return PartitionProfile.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'profile'}: {e['msg']}"
                             for e in exc.errors())
        raise RequestInvalid(f"The partition definition is not valid: {problems}.",
                             code="HSCLF007") from exc


def eth_adapters(text: str) -> tuple[dict[str, object], ...]:
    """``SLOT/VLAN,...``, or the HMC's ``SLOT/IEEE/VLAN/ADDL_VLANS/TRUNK/REQUIRED`` with
    IEEE 0 and no additional VLANs (the virtual switch carries no tagged VLANs)."""
    adapters: list[dict[str, object]] = []
    for item in items(text):
        fields = item.split("/")
        if len(fields) == 6 and fields[1] in ("", "0") and not fields[3]:
            fields = [fields[0], fields[2]]
        if len(fields) != 2 or not fields[1].isdigit():
            raise RequestInvalid(
                f"virtual_eth_adapters: {item!r} is not SLOT/VLAN (or the HMC's six fields "
                f"with ieee_virtual_eth=0 and no additional VLANs: openlpm's virtual switch "
                f"carries one untagged VLAN per adapter).", code="HSCLF007")
        adapters.append({"slot": _slot(fields[0], item), "port_vlan_id": int(fields[1])})
    return tuple(adapters)


def fc_adapters(text: str) -> tuple[dict[str, object], ...]:
    """``SLOT[/WWPN/WWPN][/IO_SERVICE],...``: a slot alone gets a new pair of WWPNs, as
    on the HMC."""
    adapters: list[dict[str, object]] = []
    for item in items(text):
        slot, *rest = item.split("/")
        io_service = rest.pop() if len(rest) in (1, 3) and rest[-1].isdigit() else "1"
        if len(rest) not in (0, 2):
            raise RequestInvalid(f"virtual_fc_adapters: {item!r} is not SLOT, "
                                 f"SLOT/WWPN/WWPN or either with /IO_SERVICE.", code="HSCLF007")
        wwpns = rest or [new_wwpn(), new_wwpn()]
        adapters.append({"slot": _slot(slot, item), "wwpns": tuple(w.lower() for w in wwpns),
                         "io_service": _io_service(io_service, item)})
    return tuple(adapters)


def scsi_adapters(text: str) -> tuple[dict[str, object], ...]:
    """``SLOT/LUN[+LUN...][/IO_SERVICE],...``: the LUNs each virtual SCSI adapter serves,
    and the system's I/O service that serves them."""
    adapters: list[dict[str, object]] = []
    for item in items(text):
        slot, *rest = item.split("/")
        if len(rest) not in (1, 2) or not rest[0]:
            raise RequestInvalid(f"virtual_scsi_adapters: {item!r} is not "
                                 f"SLOT/LUN[+LUN...][/IO_SERVICE].", code="HSCLF007")
        adapters.append({"slot": _slot(slot, item), "luns": tuple(rest[0].split("+")),
                         "io_service": _io_service(rest[1] if len(rest) == 2 else "1", item)})
    return tuple(adapters)


def _io_service(text: str, item: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_IO_SERVICES:
        raise RequestInvalid(f"{item!r}: the I/O service is a number from 1 to "
                             f"{MAX_IO_SERVICES}, not {text!r}.", code="HSCLF007")
    return int(text)


def _slot(text: str, item: str) -> int:
    if not text.isdigit():
        raise RequestInvalid(f"Virtual adapter {item!r}: the slot {text!r} is not a number.",
                             code="HSCLF007")
    return int(text)


def new_wwpn() -> str:
    """A virtual WWPN in the range IBM's HMC gives out (c05076...), random otherwise."""
    return "c05076" + secrets.token_hex(5)


async def _mksyscfg(args: argparse.Namespace, hmc: HmcClient) -> None:
    attributes = parse_attributes(args.attributes, PROFILE_ATTRIBUTES, "mksyscfg -r lpar")
    await hmc.create_partition(args.system, profile_from(attributes))


def mksyscfg(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(mksyscfg_parser, _mksyscfg, argv)


# -- rmsyscfg -----------------------------------------------------------------------------


def rmsyscfg_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="rmsyscfg", description="Remove a partition that is not "
                               "activated, with its profile.")
    parser.add_argument("-r", dest="resource", required=True, choices=["lpar"])
    parser.add_argument("-m", dest="system", required=True, help="managed system")
    _partition_options(parser, "-n")
    return parser


async def _rmsyscfg(args: argparse.Namespace, hmc: HmcClient) -> None:
    partition = await _find(hmc, args.system, args.partition, args.lpar_id)
    await hmc.remove_partition(args.system, partition.partition.name)


def rmsyscfg(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(rmsyscfg_parser, _rmsyscfg, argv)


# -- chsyscfg ------------------------------------------------------------------------------

CHANGEABLE_ATTRIBUTES = {"name", "lpar_id", "migration_disabled"}


def chsyscfg_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="chsyscfg", description="Change a partition's "
                               "attributes: migration_disabled=0|1 (allowed in any state).")
    parser.add_argument("-r", dest="resource", required=True, choices=["lpar"])
    parser.add_argument("-m", dest="system", required=True, help="managed system")
    parser.add_argument("-p", dest="partition", help="partition name (or name= in -i)")
    parser.add_argument("-i", dest="attributes", required=True,
                        help='"[name=P|lpar_id=N,]migration_disabled=0|1"')
    return parser


async def _chsyscfg(args: argparse.Namespace, hmc: HmcClient) -> None:
    attributes = parse_attributes(args.attributes, CHANGEABLE_ATTRIBUTES, "chsyscfg -r lpar")
    name = args.partition or attributes.get("name")
    lpar_id = attributes.get("lpar_id")
    if (name is None and lpar_id is None) or (lpar_id is not None and not lpar_id.isdigit()):
        raise RequestInvalid("chsyscfg: name the partition with -p NAME, name=NAME or "
                             "lpar_id=N (a number).", code="HSCLF017")
    if attributes.get("migration_disabled") not in ("0", "1"):
        raise RequestInvalid("chsyscfg: give migration_disabled=0 or migration_disabled=1.",
                             code="HSCLF018")
    partition = await _find(hmc, args.system, name, None if name else int(str(lpar_id)))
    if lpar_id is not None and partition.partition.lpar_id != int(lpar_id):
        raise RequestInvalid(f"chsyscfg: partition {name} has id {partition.partition.lpar_id}"
                             f", not {lpar_id}.", code="HSCLF017")
    await hmc.set_migration_disabled(args.system, partition.partition.name,
                                     attributes["migration_disabled"] == "1")


def chsyscfg(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(chsyscfg_parser, _chsyscfg, argv)


# -- chsysstate ---------------------------------------------------------------------------


def chsysstate_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="chsysstate", description="Activate or shut down a "
                               "partition.")
    parser.add_argument("-r", dest="resource", required=True, choices=["lpar"])
    parser.add_argument("-m", dest="system", required=True, help="managed system")
    parser.add_argument("-o", dest="operation", required=True, choices=["on", "shutdown"],
                        help="on: activate; shutdown: stop (add --immed to stop at once)")
    _partition_options(parser, "-n")
    parser.add_argument("-f", dest="profile", help="profile to activate with (-o on)")
    parser.add_argument("--immed", action="store_true", help="with -o shutdown: immediately")
    return parser


async def _chsysstate(args: argparse.Namespace, hmc: HmcClient) -> None:
    partition = await _find(hmc, args.system, args.partition, args.lpar_id)
    if args.operation == "on":
        if args.profile and args.profile != partition.partition.profile.profile_name:
            raise RequestInvalid(
                f"Partition {partition.partition.name} has no profile {args.profile}; its "
                f"profile is {partition.partition.profile.profile_name}.", code="HSCLF008")
        await hmc.activate(args.system, partition.partition.name)
    else:
        await hmc.shutdown(args.system, partition.partition.name, args.immed)


async def _find(hmc: HmcClient, system: str, name: str | None,
                lpar_id: int | None) -> PartitionSummary:
    for summary_ in await hmc.partitions(system):
        if summary_.partition.name == name or summary_.partition.lpar_id == lpar_id:
            return summary_
    if name is not None:
        raise partition_not_found([name], system)
    raise ObjectNotFound(f"No partition with id {lpar_id} was found on managed system "
                         f"{system}.", code="HSCLF164")


def chsysstate(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(chsysstate_parser, _chsysstate, argv)


# -- migrlpar (its words and request bodies: migration_input.py; its quick path for -o v
# and m: migrlpar.py) -------------------------------------------------------------------


def migration_requests(args: argparse.Namespace,
                       names: Sequence[str]) -> list[MigrationRequest]:
    """One request per partition named; ``names`` are the partitions of the source."""
    return [validated(fields) for fields in migration_fields(args, names)]


async def _migrlpar(args: argparse.Namespace, hmc: HmcClient) -> int | None:
    if args.operation == "set":
        await _set_defaults(args, hmc)
        return None
    if args.partition is None and args.lpar_id is None and not args.all:
        choices = "-p NAME or --id ID" + (" or --all" if args.operation in "vm" else "")
        raise RequestInvalid(f"migrlpar -o {args.operation} needs the partition: {choices}.",
                             code="HSCLF019")
    if args.operation in ("s", "r"):
        await _stop_or_recover(args, hmc)
        return None
    movable = [s.partition.name for s in await hmc.partitions(args.source, mobile=True)] \
        if args.all else []
    requests = migration_requests(args, movable)
    if not requests:
        print(NO_RESULTS)
        return None
    statuses = []
    for request in requests:
        if args.operation == "v":
            statuses.append(await _validate(request, hmc, args))
        else:
            statuses.append(await _migrate(request, hmc, args))
    return max(statuses)


async def _set_defaults(args: argparse.Namespace, hmc: HmcClient) -> None:
    """``-o set -r sys``: the convergence defaults of migrations leaving the system."""
    if args.resource == "lpar":
        raise RequestInvalid(
            "migrlpar -o set -r lpar sets the HMC's mover service partition (a VIOS) "
            "attributes num_active_migrations_configured and concurr_migration_perf_level; "
            "openlpm's mover services are not partitions: a mover's limit is its own "
            "option (openlpm mover serve --max-migrations N). migrlpar -o set supports "
            "-r sys: convergence, max_downtime_ms, stream_encryption.", code="HSCLF023")
    if args.resource != "sys":
        raise RequestInvalid("migrlpar -o set needs -r sys.", code="HSCLF019")
    attributes = parse_attributes(input_data(args), SYSTEM_MIGRATION_ATTRIBUTES,
                                  "migrlpar -o set -r sys")
    if not attributes:
        raise RequestInvalid("migrlpar -o set -r sys needs -i with convergence=, "
                             "max_downtime_ms= or stream_encryption=.", code="HSCLF019")
    info = await hmc.set_migration_defaults(args.source, attributes)
    print(f"{info.name}: convergence={info.convergence.value},"
          f"max_downtime_ms={info.max_downtime_ms},"
          f"stream_encryption={int(info.stream_encryption)}")


async def _stop_or_recover(args: argparse.Namespace, hmc: HmcClient) -> None:
    """``-o s`` stops the partition's migration; ``-o r`` recovers its newest one."""
    if args.all or (args.partition or "").count(",") or str(args.lpar_id or "").count(","):
        raise RequestInvalid(f"migrlpar -o {args.operation} takes one partition.",
                             code="HSCLF012")
    if args.lpar_id is not None and not str(args.lpar_id).isdigit():
        raise RequestInvalid(f"migrlpar --id takes a partition id (a number), not "
                             f"{args.lpar_id}.", code="HSCLF013")
    name = args.partition
    if name is None:
        name = (await _find(hmc, args.source, None, int(args.lpar_id))).partition.name
    if args.operation == "s":
        record = await hmc.stop(args.source, name)
        print(f"Migration {record.id} of {name} stopped: {record.error_message}")
        return
    record = await hmc.recover(args.source, name, args.force)
    outcome = record.error_message or f"Recovered: the partition is on {record.target}."
    print(f"Migration {record.id} of {name} from {record.source} to {record.target}: "
          f"{record.state.value}. {outcome}")


async def _validate(request: MigrationRequest, hmc: HmcClient,
                    args: argparse.Namespace) -> int:
    report = await hmc.validate(request)
    detail = max(args.detail, 3) if args.verbose else args.detail
    for line in finding_lines(report.findings, detail, args.nodetails):
        print(line, file=sys.stderr)
    for line in summary_lines(report, detail):
        print(line)
    return 0 if report.passed else ValidationFailed.exit_status


async def _migrate(request: MigrationRequest, hmc: HmcClient,
                   args: argparse.Namespace) -> int:
    """Migrate one partition; a refusal or failure is printed and gives its exit status,
    so that the next partition of the command still gets its turn."""
    try:
        return await _migrate_one(request, hmc, args)
    except (ValidationFailed, MigrationFailed) as exc:
        return report_error(exc, args.detail, args.nodetails)


async def _migrate_one(request: MigrationRequest, hmc: HmcClient,
                       args: argparse.Namespace) -> int:
    # rich is imported only by the commands that draw progress: it costs startup time.
    from openlpm.cli.progress import show_progress

    record = await hmc.migrate(request)
    for line in finding_lines(record.warnings, args.detail, args.nodetails):
        print(line, file=sys.stderr)
    if args.no_wait:
        print(f"migration {record.id} of {record.partition} started")
        return 0
    final = await show_progress(hmc.follow(record.id))
    if args.verbose or final.state != MigrationState.COMPLETE:
        print(summary(final))
    if args.verbose:
        for line in [*journal_lines(await hmc.journal(final.id)), *pass_lines(final.rounds)]:
            print(line)
    if final.state != MigrationState.COMPLETE:
        raise MigrationFailed(final.error_message or "The migration did not complete.",
                              code=final.error_code or "HSCLF109")
    return 0


def migrlpar(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(migrlpar_parser, _migrlpar, argv)


# -- lslparmigr ---------------------------------------------------------------------------


def lslparmigr_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(
        prog="lslparmigr", description="List partition migration information of a managed "
        "system: lpar (each partition's migration), sys (limits, counts and migration "
        "defaults), manager (this console: remote_lpar_mobility_capable), procpool (the "
        "processor pools each partition may use on -t: DefaultPool, id 0), "
        "msp (mover service pairs to -t, each probed), virtualio (how each "
        "partition's devices map onto -t), migr (every migration the console keeps that "
        "involves the system, newest first, with its result: an openlpm addition).")
    parser.add_argument("-r", dest="resource", required=True,
                        choices=["lpar", "sys", "msp", "virtualio", "migr", "manager",
                                 "procpool"])
    parser.add_argument("-m", dest="system", help="managed system (not with -r manager)")
    parser.add_argument("-t", dest="target", help="target managed system (-r msp, "
                        "virtualio, procpool)")
    parser.add_argument("--ip", dest="remote_hmc", metavar="REMOTE",
                        help="-r msp: the other console that manages -t (keys exchanged "
                        "first with mkauthkeys)")
    parser.add_argument("-u", dest="remote_user", metavar="USER",
                        help="-r msp: the user of the --ip console to act as (needed when "
                        "keys were exchanged for several)")
    parser.add_argument("--filter", help='"lpar_names=A,B" or "lpar_ids=1,2"')
    listing_options(parser)
    return parser


def migration_record(summary_: PartitionSummary,
                     record: MigrationRecord | None) -> dict[str, object]:
    p = summary_.partition
    base: dict[str, object] = {"name": p.name, "lpar_id": p.lpar_id,
                               "migration_state": summary_.migration_state.value}
    if record is None:
        # Every record carries every attribute, so -F works whatever is migrating.
        return base | dict.fromkeys(MIGRATION_LISTING)
    return base | {
        "migration_type": record.kind.value, "source_sys_name": record.source,
        "dest_sys_name": record.target, "dest_lpar_id": record.dest_lpar_id,
        "source_msp_name": record.source_msp_name, "source_msp_id": record.source_msp_id,
        "dest_msp_name": record.dest_msp_name, "dest_msp_id": record.dest_msp_id,
        "remote_manager": record.target_console or record.driven_by,
        "remote_user": record.remote_user,
        "migration_step": int(record.step) if record.step else None,
        "bytes_transmitted": record.bytes_transmitted,
        "bytes_remaining": record.bytes_remaining, "rate": int(record.rate_bps),
    }


def history_record(record: MigrationRecord) -> dict[str, object]:
    """``lslparmigr -r migr``: one migration and its result."""
    return {
        "migration_id": record.id, "name": record.partition,
        "migration_type": record.kind.value, "source_sys_name": record.source,
        "dest_sys_name": record.target, "migration_state": record.state.value,
        "started": time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(record.started)),
        "downtime_ms": record.downtime_ms, "error_code": record.error_code,
        "dest_hmc": record.target_console, "driven_by_hmc": record.driven_by,
        "source_msp_name": record.source_msp_name, "source_msp_id": record.source_msp_id,
        "dest_msp_name": record.dest_msp_name, "dest_msp_id": record.dest_msp_id,
    }


def mover_pair_record(pair: Mapping[str, Any]) -> dict[str, object]:
    return {
        "source_msp_name": pair["source_msp_name"],
        "source_msp_id": pair.get("source_msp_id"),
        "dest_msp_name": pair["dest_msp_name"], "dest_msp_id": pair.get("dest_msp_id"),
        "ipaddr_mappings": f"{pair['source_msp_ipaddr']}//{pair['dest_msp_ipaddr']}",
        "usable": int(pair["reachable"]), "round_trip_ms": pair["round_trip_ms"],
        "reason": pair["error"],
    }


def manager_record() -> dict[str, object]:
    """``lslparmigr -r manager``: this console migrates to systems of other consoles."""
    return {"remote_lpar_mobility_capable": 1}


def procpool_record(summary_: PartitionSummary) -> dict[str, object]:
    """``lslparmigr -r procpool``: the processor pools a partition may use on the target,
    its one default pool (see DEFAULT_POOL_NAME)."""
    return {"lpar_name": summary_.partition.name, "lpar_id": summary_.partition.lpar_id,
            "shared_proc_pool_ids": DEFAULT_POOL_ID,
            "shared_proc_pool_names": DEFAULT_POOL_NAME}


def virtualio_record(summary_: PartitionSummary, target: SystemInfo) -> dict[str, object]:
    """How a partition's devices map onto the target: each virtual FC and SCSI adapter
    onto one of its I/O services, the one a migration would use and every one it could;
    what cannot be mapped (host-local devices, VLANs the target does not bridge) is named."""
    p = summary_.partition.profile
    placed = p.on_io_services(target.io_services)
    every = range(1, target.io_services + 1)
    local = [*p.disks, *(f"{n}-mode network" for n in p.networks), *p.shares, *p.io_slots,
             *(f"virtual Ethernet slot {a.slot} (VLAN {a.port_vlan_id} is not bridged on "
               f"{target.name})" for a in p.virtual_eth_adapters
               if a.port_vlan_id not in target.vlans)]
    return {
        "name": p.name, "lpar_id": summary_.partition.lpar_id,
        "suggested_virtual_fc_mappings": _mappings(
            (a.slot, a.io_service) for a in placed.virtual_fc_adapters),
        "possible_virtual_fc_mappings": _mappings(
            (a.slot, n) for a in p.virtual_fc_adapters for n in every),
        "suggested_virtual_scsi_mappings": _mappings(
            (a.slot, a.io_service) for a in placed.virtual_scsi_adapters),
        "possible_virtual_scsi_mappings": _mappings(
            (a.slot, n) for a in p.virtual_scsi_adapters for n in every),
        "unmappable_devices": ",".join(local) or None,
    }


def _mappings(slots_on_io_services: Iterable[tuple[int, int]]) -> str | None:
    """The HMC's ``client_slot/vios_name/vios_id`` items; I/O services have no names."""
    return ",".join(f"{slot}//{io}" for slot, io in slots_on_io_services) or None


async def _lslparmigr(args: argparse.Namespace, hmc: HmcClient) -> None:
    if args.resource != "msp" and (args.remote_hmc or args.remote_user):
        raise RequestInvalid(f"lslparmigr --ip and -u apply to -r msp only, not -r "
                             f"{args.resource}.", code="HSCLF523")
    if args.resource == "manager":
        await hmc.whoami()  # the console answers, and the user is signed in there
        listing([manager_record()], args)
        return
    if not args.system:
        raise RequestInvalid(f"lslparmigr -r {args.resource} needs -m SYSTEM.",
                             code="HSCLF009")
    if args.resource == "sys":
        listing([await hmc.system_migration(args.system)], args)
        return
    if args.resource == "migr":
        await hmc.system(args.system)
        listing([history_record(m) for m in await hmc.migrations(args.system)], args)
        return
    lpar_filter(args.filter)  # a malformed filter is named before a missing -t
    if args.resource in ("msp", "virtualio", "procpool") and not args.target:
        raise RequestInvalid(f"lslparmigr -r {args.resource} needs the target system: -t "
                             f"SYSTEM.", code="HSCLF010")
    chosen = filter_partitions(await hmc.partitions(args.system), args.filter, args.system)
    if args.filter and not chosen:
        raise ObjectNotFound(f"No partition of {args.system} matches --filter "
                             f"{args.filter}.", code="HSCLF164")
    if args.resource == "msp":
        listing([mover_pair_record(p) for p in
                 await hmc.mover_pairs(args.system, args.target, args.remote_hmc,
                                       args.remote_user)], args)
        return
    if args.resource == "procpool":
        await hmc.system(args.target)
        listing([procpool_record(s) for s in chosen], args)
        return
    if args.resource == "virtualio":
        target = await hmc.system(args.target)
        if target.info is None:
            raise SystemUnreachable(f"Managed system {args.target} did not answer: "
                                    f"{target.message}", code="HSCLF107")
        listing([virtualio_record(s, target.info) for s in chosen], args)
        return
    live = {m.id: m for m in await hmc.migrations(args.system) if not m.state.finished}
    listing([migration_record(s, live.get(s.migration_id or "")) for s in chosen], args)


def lslparmigr(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(lslparmigr_parser, _lslparmigr, argv)
