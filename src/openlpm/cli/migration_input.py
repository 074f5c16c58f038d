"""migrlpar's words: its options (``--help``), its ``-i`` data, and the request body
of each partition it validates or migrates, on the standard library.

``cli/migrlpar.py`` starts without pydantic: ``request_body`` gives the body pydantic's
``MigrationRequest`` would, checking each value the quick way, and leaves any value it
doubts to pydantic (imported then), so the client-side checks, their HSCL codes and exit
statuses are the same; ``commands.migration_requests`` builds the models themselves.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openlpm.cli.findings import DEFAULT_DETAIL
from openlpm.cli.hmc_syntax import HmcArgumentParser, parse_attributes
from openlpm.errors import RequestInvalid

if TYPE_CHECKING:
    from openlpm.model import MigrationRequest

# model.MAX_IO_SERVICES (a unit test holds them equal).
MAX_IO_SERVICES = 9
MIGRATION_ATTRIBUTES = {"dest_lpar_id", "source_msp_name", "dest_msp_name", "source_msp_ipaddr",
                        "dest_msp_ipaddr", "convergence", "max_downtime_ms", "streams",
                        "compression", "virtual_fc_mappings", "virtual_scsi_mappings",
                        "source_msp_id", "dest_msp_id", "shared_proc_pool_name",
                        "shared_proc_pool_id", "vlan_mappings"}
# A system's processor pools: partitions have dedicated virtual processors, so there is
# the HMC's default shared pool only, which migrlpar -i and lslparmigr -r procpool name.
DEFAULT_POOL_NAME, DEFAULT_POOL_ID = "DefaultPool", 0


def items(text: str) -> list[str]:
    """The comma-separated items of an attribute's value, blanks left out."""
    return [item.strip() for item in text.split(",") if item.strip()]


# The HMC's policy flags that openlpm accepts but that change nothing, and why; --help
# and docs/cli.md say the same.
NO_EFFECT = {
    "--redundantpgvios": "no shared-memory (AMS) paging devices in openlpm",
    "--vsi": "no 802.1Qbg VSI profiles in openlpm",
    "--uuid": "a partition's UUID always migrates unchanged",
    "--protectstorage": "a partition's storage is never given to another partition",
    "--requirerr": "no remote-restart capability to keep",
    "--redundantvnicbkdev": "no vNIC backing devices in openlpm",
    "--vniccfg": "no vNIC adapters in openlpm",
    "--migsriov": "no SR-IOV logical ports in openlpm",
    "--affinity": "no NUMA placement in openlpm",
    "--steps": "progress is always shown step by step",
}


def migrlpar_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(
        prog="migrlpar", description="Validate or migrate a partition to another managed "
        "system. -o v validates only; -o m validates, then migrates a running partition "
        "live (or an inactive one by its profile); -o s stops a migration, -o r recovers "
        "one; -o set -r sys sets a system's migration defaults.")
    for options in (_migrlpar_what, _migrlpar_how, _migrlpar_checks):
        options(parser)
    return parser


def _migrlpar_what(parser: argparse.ArgumentParser) -> None:
    """The operation, the partitions, where they go, and the -i data."""
    parser.add_argument("-o", dest="operation", required=True,
                        choices=["v", "m", "s", "r", "set"],
                        help="v: validate, m: migrate, s: stop the partition's migration "
                        "(it stays on the source), r: recover its migration left half-way "
                        "(the partition ends in exactly one place), set: with -r sys, the "
                        "migration defaults of -m SYSTEM")
    parser.add_argument("-r", dest="resource", choices=["sys", "lpar"],
                        help="with -o set: sys (-r lpar, an MSP's settings on the HMC, is "
                        "refused: movers are not partitions)")
    parser.add_argument("-m", dest="source", required=True, help="source managed system")
    parser.add_argument("-t", dest="target", help="target managed system (-o v and m)")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("-p", dest="partition", help="partition name, or names separated by "
                     "commas")
    who.add_argument("--id", dest="lpar_id", help="partition id, or ids separated by commas")
    who.add_argument("--all", action="store_true", help="every partition of the source "
                     "that can migrate (running or activated once)")
    parser.add_argument("-n", dest="profile_name", help="profile name on the target (up "
                        "to 31 characters; default: the partition's profile name)")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("-i", dest="attributes", help=(
        '"dest_lpar_id=N,source_msp_name=NAME,dest_msp_name=NAME,source_msp_id=N,'
        'dest_msp_id=N,source_msp_ipaddr=IP,dest_msp_ipaddr=IP,'
        'shared_proc_pool_name=DefaultPool,shared_proc_pool_id=0,'
        'convergence=precopy|auto-converge|postcopy,max_downtime_ms=MS,'
        'streams=N,compression=none|zstd,\\"vlan_mappings=MAC/PVID,...\\",'
        '\\"virtual_fc_mappings=SLOT/VIOS_NAME/VIOS_ID[/VIOS_SLOT[/FC_PORT]],...\\",'
        '\\"virtual_scsi_mappings=SLOT/VIOS_NAME/VIOS_ID[/VIOS_SLOT],...\\"" (an MSP id: '
        "1, the system's mover; a VIOS: the target's I/O service N, named viosN or "
        "given as VIOS_ID N, e.g. 4//2 or 4/vios2/2; vlan_mappings: the adapter with "
        "that MAC address goes onto VLAN PVID of the target); with -o set -r sys: "
        '"convergence=...,max_downtime_ms=MS,stream_encryption=1|0"'))
    data.add_argument("-f", dest="input_file", type=Path, help="file holding the -i data")


def _migrlpar_how(parser: argparse.ArgumentParser) -> None:
    """Another console, waiting, and what is printed."""
    parser.add_argument("--ip", dest="remote_hmc", metavar="REMOTE",
                        help="another console that manages the target (its address or "
                        "name; keys exchanged first with mkauthkeys); this console's own "
                        "name means a local migration")
    parser.add_argument("-u", dest="remote_user", metavar="USER",
                        help="the user of the --ip console to act as (needed when keys "
                        "were exchanged for several)")
    parser.add_argument("-w", dest="wait", type=float, help="minutes to wait before the "
                        "migration gives up and leaves the partition on the source")
    parser.add_argument("-d", dest="detail", type=int, choices=range(1, 6),
                        default=DEFAULT_DETAIL, help="detail of validation messages: 1 one "
                        "line per finding, 2 and what to do (default), 3 and a summary, 4 "
                        "and every check run, 5 and the time taken")
    parser.add_argument("-v", dest="verbose", action="store_true",
                        help="print a validation summary, or the migration's summary and "
                        "journal")
    parser.add_argument("--nodetails", action="store_true",
                        help="leave out what to do under each finding")
    parser.add_argument("--force", action="store_true", help="with -o r: recover even when "
                        "one of the two systems does not answer, deciding from the other")
    parser.add_argument("--async", dest="no_wait", action="store_true",
                        help="with -o m: return once the migration has started")


def _migrlpar_checks(parser: argparse.ArgumentParser) -> None:
    """How strict validation is, and the HMC's flags that mean nothing here."""
    parser.add_argument("--vlanbridge", type=int, choices=[1, 2], help="1 (default): every "
                        "VLAN of the partition must be bridged on the target (an error "
                        "otherwise); 2: only if possible (a warning)")
    parser.add_argument("--mpio", type=int, choices=[1, 2], help="1: every path of the "
                        "partition's storage (one per I/O service its adapters use) must be "
                        "kept on the target, an error otherwise; 2: keep what the target "
                        "has (a warning)")
    parser.add_argument("--redundantvios", type=int, choices=[0, 1, 2], help="redundant I/O "
                        "services: 0: do not require (no warning), 1: require (as --mpio 1), "
                        "2 (default): keep if possible (a warning when the target has fewer)")
    parser.add_argument("--npivval", choices=["port", "portdisk"], help="storage check "
                        "depth: port, or port and each disk (both: validation checks the "
                        "target's SAN connection; step 2 opens every disk)")
    parser.add_argument("--redundantmsps", type=int, choices=[0, 1, 2], help="0 and 2: one "
                        "mover pair (openlpm has no redundant pairs); 1 is refused")
    parser.add_argument("--usecurrdata", action="store_true", help="accepted: openlpm "
                        "always validates against current data, never a cache")
    for flag, why in NO_EFFECT.items():
        if flag in ("--affinity",):
            parser.add_argument(flag, action="store_true", help=f"accepted, no effect: {why}")
        else:
            parser.add_argument(flag, metavar="N", help=f"accepted, no effect: {why}")


def migration_fields(args: argparse.Namespace,
                     names: Sequence[str]) -> list[dict[str, Any]]:
    """The fields of one ``MigrationRequest`` per partition named, as the command line
    gives them (``names``: the partitions of the source, for ``--all``); their types and
    ranges are checked by ``request_body``."""
    if not args.target:
        raise RequestInvalid(f"migrlpar -o {args.operation} needs the target system: -t "
                             f"SYSTEM.", code="HSCLF010")
    if args.redundantmsps == 1:
        raise RequestInvalid("--redundantmsps 1 requires redundant mover pairs, which "
                             "openlpm does not have. Use 0 or 2.", code="HSCLF014")
    attributes = parse_attributes(input_data(args), MIGRATION_ATTRIBUTES, "migrlpar")
    wanted = _partitions_wanted(args, names)
    processor_pool(attributes)
    if len(wanted) > 1 and ("dest_lpar_id" in attributes or args.profile_name):
        raise RequestInvalid("dest_lpar_id and -n apply to one partition; leave them out "
                             "when migrating several.", code="HSCLF015")
    return [_fields(args, attributes, who) for who in wanted]


def _fields(args: argparse.Namespace, attributes: Mapping[str, str],
            who: Mapping[str, Any]) -> dict[str, Any]:
    return dict(
        source=args.source, target=args.target, dest_profile_name=args.profile_name,
        wait_minutes=args.wait, dest_lpar_id=attributes.get("dest_lpar_id"),
        source_msp_name=attributes.get("source_msp_name"),
        dest_msp_name=attributes.get("dest_msp_name"),
        source_msp_id=_number(attributes, "source_msp_id"),
        dest_msp_id=_number(attributes, "dest_msp_id"),
        remote_hmc=args.remote_hmc, remote_user=args.remote_user,
        vlan_bridge=args.vlanbridge, mpio=args.mpio, redundant_vios=args.redundantvios,
        npiv_validation=args.npivval, convergence=attributes.get("convergence"),
        max_downtime_ms=attributes.get("max_downtime_ms"),
        **{k: attributes[k] for k in ("streams", "compression", "source_msp_ipaddr",
                                      "dest_msp_ipaddr") if k in attributes},
        **{k: adapter_mappings(attributes[k], k) for k in (
            "virtual_fc_mappings", "virtual_scsi_mappings") if k in attributes},
        vlan_mappings=tuple({"mac_addr": mac, "port_vlan_id": pvid} for mac, pvid in
                            vlan_mappings(attributes.get("vlan_mappings", "")).items()),
        **who)


def validated(fields: Mapping[str, Any]) -> MigrationRequest:
    """``fields`` as the request the API takes, pydantic's checks applied.

    Raises RequestInvalid (HSCLF011) naming each field that does not fit.
    """
    from pydantic import ValidationError

    from openlpm.model import MigrationRequest

    try:
        return MigrationRequest(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors())
        raise RequestInvalid(f"migrlpar: {problems}.", code="HSCLF011") from exc


def request_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``fields``' request: ``validated(fields).model_dump()``, without
    pydantic (50 ms of imports) when every value passes the quick checks of
    ``_plain_body``; pydantic judges the rest, so a doubtful value is refused, or taken,
    exactly as before."""
    body = _plain_body(fields)
    return body if body is not None else validated(fields).model_dump()


# MigrationRequest's fields, in its order, with their defaults.
_REQUEST_DEFAULTS: dict[str, Any] = {
    "source": None, "target": None, "partition": None, "lpar_id": None,
    "dest_profile_name": None, "dest_lpar_id": None, "source_msp_name": None,
    "dest_msp_name": None, "source_msp_id": None, "dest_msp_id": None,
    "source_msp_ipaddr": None, "dest_msp_ipaddr": None, "wait_minutes": None,
    "remote_hmc": None, "remote_user": None, "vlan_bridge": None, "mpio": None,
    "redundant_vios": None, "npiv_validation": None, "convergence": None,
    "max_downtime_ms": None, "streams": 1, "compression": "none",
    "virtual_fc_mappings": (), "virtual_scsi_mappings": (), "vlan_mappings": ()}
# model.PROFILE_NAME_PATTERN, matched whole (a unit test holds them equal).
PROFILE_NAME = re.compile(r"[A-Za-z0-9 ,./;:~@#^\-_=+{}]{1,31}")
_TEXTS = ("source", "target", "partition", "source_msp_name", "dest_msp_name",
          "source_msp_ipaddr", "dest_msp_ipaddr", "remote_hmc", "remote_user")
_CHOICES: dict[str, tuple[object, ...]] = {
    "vlan_bridge": (None, 1, 2), "mpio": (None, 1, 2), "redundant_vios": (None, 0, 1, 2),
    "npiv_validation": (None, "port", "portdisk"),
    "convergence": (None, "precopy", "auto-converge", "postcopy"),
    "compression": ("none", "zstd")}
_NUMBERS = {"dest_lpar_id": (1, 65535), "max_downtime_ms": (10, 60000), "streams": (1, 16)}


def _plain_body(fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """The body when every value is plainly valid (a name, a number in range written in
    digits, one of the choices), else None: the request goes to pydantic."""
    if not set(fields) <= set(_REQUEST_DEFAULTS):
        return None
    body = _REQUEST_DEFAULTS | dict(fields)
    texts_ok = all(body[k] is None or type(body[k]) is str for k in _TEXTS)
    name = body["dest_profile_name"]
    wait = body["wait_minutes"]
    plain = (texts_ok and type(body["source"]) is str and type(body["target"]) is str
             and (body["lpar_id"] is None or type(body["lpar_id"]) is int)
             and (name is None or (type(name) is str and PROFILE_NAME.fullmatch(name)))
             and all(body[k] in v and type(body[k]) is not bool for k, v in _CHOICES.items())
             and all(body[k] is None or (type(body[k]) is int and body[k] >= 1)
                     for k in ("source_msp_id", "dest_msp_id"))
             and (wait is None or (type(wait) is float and math.isfinite(wait) and wait > 0))
             and _mapped(body["virtual_fc_mappings"]) and _mapped(body["virtual_scsi_mappings"])
             and _vlans(body["vlan_mappings"]))
    if not plain:
        return None
    for key, (low, high) in _NUMBERS.items():
        value = body[key]
        if isinstance(value, str):
            if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
                return None
            body[key] = int(value)
        elif value is not None and not (type(value) is int and low <= value <= high):
            return None
    return body


def _mapped(mappings: object) -> bool:
    """Adapter mappings (``adapter_mappings``'s) in model.AdapterMapping's ranges."""
    return isinstance(mappings, tuple) and all(
        isinstance(m, dict) and set(m) == {"slot", "io_service"}
        and type(m["slot"]) is int and 2 <= m["slot"] <= 1023
        and type(m["io_service"]) is int and 1 <= m["io_service"] <= MAX_IO_SERVICES
        for m in mappings)


_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")  # model.MAC_PATTERN, matched whole


def _vlans(mappings: object) -> bool:
    """VLAN mappings (``vlan_mappings``'s) as model.VlanMapping takes them."""
    return isinstance(mappings, tuple) and all(
        isinstance(m, dict) and set(m) == {"mac_addr", "port_vlan_id"}
        and type(m["mac_addr"]) is str and _MAC.fullmatch(m["mac_addr"]) is not None
        and type(m["port_vlan_id"]) is int and 1 <= m["port_vlan_id"] <= 4094
        for m in mappings)


def _number(attributes: Mapping[str, str], name: str) -> int | None:
    """An attribute that is a number (an MSP id), None when not given."""
    text = attributes.get(name)
    if text is None:
        return None
    if not text.isdigit():
        raise RequestInvalid(f"migrlpar: {name} is a number, not {text!r}.", code="HSCLF011")
    return int(text)


def processor_pool(attributes: Mapping[str, str]) -> None:
    """``shared_proc_pool_name`` / ``_id``: the target's pool. Partitions have dedicated
    virtual processors, and every system has the HMC's default pool only: it is taken,
    by name or id (or both, agreeing), and any other is refused (HSCLF021)."""
    name = attributes.get("shared_proc_pool_name")
    pool_id = attributes.get("shared_proc_pool_id")
    if name not in (None, DEFAULT_POOL_NAME) or pool_id not in (None, str(DEFAULT_POOL_ID)):
        given = ",".join(f"{k}={v}" for k, v in (("shared_proc_pool_name", name),
                                                  ("shared_proc_pool_id", pool_id)) if v)
        raise RequestInvalid(
            f"migrlpar: {given}: the target has no such shared processor pool. Every "
            f"managed system has one pool, {DEFAULT_POOL_NAME} (id {DEFAULT_POOL_ID}): "
            f"openlpm's partitions have dedicated virtual processors. Give "
            f"shared_proc_pool_name={DEFAULT_POOL_NAME} or shared_proc_pool_id="
            f"{DEFAULT_POOL_ID}, or leave it out.", code="HSCLF021")


def vlan_mappings(text: str) -> dict[str, int]:
    """``vlan_mappings=MAC/PVID[/VLANS],...``: each virtual Ethernet adapter (by its MAC
    address, 12 hexadecimal digits, colons allowed) and its port VLAN id on the target;
    returns MAC (lowercase, with colons) to PVID. Additional (tagged) VLANs are refused
    (HSCLF022): the virtual switch carries untagged VLANs only. Whether the partition has
    that adapter, and the target that VLAN, is validation's question (HSCLF199, 423)."""
    mappings: dict[str, int] = {}
    for item in items(text):
        mac, _, rest = item.partition("/")
        pvid, _, tagged = rest.partition("/")
        digits = mac.replace(":", "").lower()
        if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits) \
                or not pvid.isdigit() or not 1 <= int(pvid) <= 4094:
            raise RequestInvalid(f"migrlpar: vlan_mappings: {item!r} is not MAC/PVID (the "
                                 f"adapter's MAC address, 12 hexadecimal digits, then a "
                                 f"VLAN id from 1 to 4094).", code="HSCLF022")
        if tagged.strip():
            raise RequestInvalid(f"migrlpar: vlan_mappings: {item!r} adds tagged VLANs "
                                 f"({tagged.strip()}): openlpm's virtual switch carries one "
                                 f"untagged VLAN per adapter. Give MAC/PVID only.",
                                 code="HSCLF022")
        mappings[":".join(digits[i:i + 2] for i in range(0, 12, 2))] = int(pvid)
    return mappings


def adapter_mappings(text: str, attribute: str) -> tuple[dict[str, int], ...]:
    """The HMC's ``SLOT/VIOS_NAME/VIOS_ID[/VIOS_SLOT[/FC_PORT]]`` items (FC_PORT for
    virtual FC only): the VIOS is an I/O service of the target, named by its number
    (``SLOT//2``), its name (``SLOT/vios2/``, see ``io_service_name``) or both, agreeing.
    An I/O service has no server adapter slots and one SAN port: VIOS_SLOT and FC_PORT
    are taken and change nothing."""
    longest = 5 if attribute == "virtual_fc_mappings" else 4
    mappings = []
    for item in items(text):
        fields = item.split("/")
        if not 3 <= len(fields) <= longest or not fields[0].isdigit() \
                or not (fields[1] or fields[2]) or fields[3:4] not in ([], [""]) \
                and not fields[3].isdigit():
            raise RequestInvalid(
                f"migrlpar: {attribute}: {item!r} is not SLOT/VIOS_NAME/VIOS_ID"
                f"[/VIOS_SLOT{'[/FC_PORT]' if longest == 5 else ''}] (the client slot, then "
                f"the target's I/O service by name, number or both: 4//2, 4/vios2/, "
                f"4/vios2/2).", code="HSCLF011")
        mappings.append({"slot": int(fields[0]),
                         "io_service": _mapped_io_service(fields[1], fields[2], item,
                                                          attribute)})
    return tuple(mappings)


def io_service_name(number: int) -> str:
    """The name of a system's I/O service N as the VIOS name of the HMC's mappings."""
    return f"vios{number}"


def _mapped_io_service(name: str, number: str, item: str, attribute: str) -> int:
    named = int(name[4:]) if name[:4] == "vios" and name[4:].isdigit() else None
    if name and named is None:
        raise RequestInvalid(
            f"migrlpar: {attribute}: {item!r} names VIOS {name!r}: a managed system's I/O "
            f"services are named vios1 to vios{MAX_IO_SERVICES} (or give the number: "
            f"{item.split('/')[0]}//N).", code="HSCLF011")
    if number and not number.isdigit():
        raise RequestInvalid(f"migrlpar: {attribute}: {item!r}: the VIOS id is the I/O "
                             f"service's number, not {number!r}.", code="HSCLF011")
    if named is not None and number and named != int(number):
        raise RequestInvalid(
            f"migrlpar: {attribute}: {item!r}: VIOS {name} is I/O service {named}, not "
            f"{number}. Give one of them, or both agreeing.", code="HSCLF011")
    return named if named is not None else int(number)


def input_data(args: argparse.Namespace) -> str:
    if args.input_file is None:
        return str(args.attributes or "")
    try:
        return " ".join(args.input_file.read_text().split())
    except OSError as exc:
        raise RequestInvalid(f"migrlpar -f: cannot read {args.input_file}: {exc.strerror}.",
                             code="HSCLF016") from exc


def _partitions_wanted(args: argparse.Namespace,
                       names: Sequence[str]) -> list[dict[str, Any]]:
    if args.all:
        return [{"partition": name} for name in names]
    if args.partition is not None:
        return [{"partition": p.strip()} for p in args.partition.split(",") if p.strip()]
    ids = [i.strip() for i in str(args.lpar_id).split(",") if i.strip()]
    if not ids or not all(i.isdigit() for i in ids):
        raise RequestInvalid(f"migrlpar --id takes partition ids (numbers), not "
                             f"{args.lpar_id}.", code="HSCLF013")
    return [{"lpar_id": int(i)} for i in ids]
