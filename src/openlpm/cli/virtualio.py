"""Virtual I/O from the console: ``openlpm san`` (LUNs, mappings) and ``lshwres`` (the
virtual adapters of partitions: Ethernet with its VLAN and MAC, FC with its WWPNs and
LUNs, SCSI with its LUNs)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from openlpm.cli.hmc_command import run_hmc_command
from openlpm.cli.hmc_syntax import HmcArgumentParser, listing, listing_options
from openlpm.cli.lssyscfg import filter_partitions
from openlpm.clients.console import HmcClient
from openlpm.clients.console_address import hmc_url
from openlpm.errors import RequestInvalid
from openlpm.model import Lun, LunCreate, PartitionSummary, host_identity


def lun_record(lun: Lun) -> dict[str, object]:
    return {"name": lun.name, "size_mb": lun.size_mb, "export": f"{lun.host}:{lun.port}",
            "mappings": ",".join(lun.mappings) or None}


async def san(args: argparse.Namespace) -> None:
    async with HmcClient(hmc_url()) as hmc:
        if args.action == "mklun":
            lun = await hmc.create_lun(LunCreate(name=args.lun, size_mb=args.size_mb,
                                                 source=args.source))
            print(f"LUN {lun.name}: {lun.size_mb} MB, exported at {lun.host}:{lun.port}")
        elif args.action == "rmlun":
            await hmc.delete_lun(args.lun)
        elif args.action == "lslun":
            listing([lun_record(lun) for lun in await hmc.luns()], args)
        else:
            if args.wwpn and args.io_service != 1:
                raise RequestInvalid("--io-service goes with --host: a WWPN is a virtual FC "
                                     "adapter's own, whichever I/O service hosts it.",
                                     code="HSCLF007")
            identity = args.wwpn.lower() if args.wwpn else \
                host_identity(args.host, args.io_service)
            change = hmc.map_lun if args.action == "map" else hmc.unmap_lun
            lun = await change(args.lun, identity)
            print(f"LUN {lun.name}: mapped to {', '.join(lun.mappings) or 'nobody'}")


def lshwres_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="lshwres", description="List the virtual I/O adapters "
                               "of a managed system's partitions.")
    parser.add_argument("-r", dest="resource", required=True, choices=["virtualio"],
                        help="resource type: virtualio")
    parser.add_argument("--rsubtype", required=True, choices=["eth", "fc", "scsi"],
                        help="eth: virtual Ethernet; fc: virtual Fibre Channel (NPIV); "
                             "scsi: virtual SCSI")
    parser.add_argument("--level", default="lpar", choices=["lpar"], help="lpar")
    parser.add_argument("-m", dest="system", required=True, help="managed system")
    parser.add_argument("--filter", help='"lpar_names=A,B" or "lpar_ids=1,2"')
    listing_options(parser)
    return parser


def eth_records(summary: PartitionSummary) -> list[dict[str, object]]:
    p = summary.partition.profile
    return [{"lpar_name": p.name, "lpar_id": summary.partition.lpar_id, "slot_num": a.slot,
             "port_vlan_id": a.port_vlan_id, "ieee_virtual_eth": 0, "addl_vlan_ids": None,
             "mac_addr": (a.mac_addr or "").replace(":", "").upper() or None}
            for a in p.virtual_eth_adapters]


def fc_records(summary: PartitionSummary, luns: list[Lun]) -> list[dict[str, object]]:
    p = summary.partition.profile
    return [{"lpar_name": p.name, "lpar_id": summary.partition.lpar_id, "slot_num": a.slot,
             "adapter_type": "client", "io_service": a.io_service, "wwpns": ",".join(a.wwpns),
             "wwpn_in_use": a.active_wwpn,
             "luns": ",".join(lun.name for lun in luns if a.active_wwpn in lun.mappings)
             or None} for a in p.virtual_fc_adapters]


def scsi_records(summary: PartitionSummary, system: str) -> list[dict[str, object]]:
    p = summary.partition.profile
    return [{"lpar_name": p.name, "lpar_id": summary.partition.lpar_id, "slot_num": a.slot,
             "adapter_type": "client", "io_service": a.io_service,
             "backing": host_identity(system, a.io_service),
             "luns": ",".join(a.luns)} for a in p.virtual_scsi_adapters]


async def _lshwres(args: argparse.Namespace, hmc: HmcClient) -> None:
    chosen = filter_partitions(await hmc.partitions(args.system), args.filter, args.system)
    records: list[dict[str, object]] = []
    if args.rsubtype == "eth":
        for summary in chosen:
            records += eth_records(summary)
    elif args.rsubtype == "fc":
        luns = await hmc.luns() if any(s.partition.profile.virtual_fc_adapters
                                       for s in chosen) else []
        for summary in chosen:
            records += fc_records(summary, luns)
    else:
        for summary in chosen:
            records += scsi_records(summary, args.system)
    listing(records, args)


def lshwres(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(lshwres_parser, _lshwres, argv)

