"""The HMC's system connections from the command line: ``mksysconn``, ``lssysconn`` and
``rmsysconn``.

``mksysconn --ip ADDR`` manages the system whose agent answers at ADDR (port 8470) under
the name the agent gives, enrolling it with ``--passwd CODE`` (its one-time enrollment
code) unless this console enrolled it before; ``-r san`` connects the site's SAN (port
8490) instead. ``rmsysconn -o remove`` stops managing it: its partitions keep running,
and ``mksysconn`` shows them again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from openlpm.cli.hmc_command import run_hmc_command
from openlpm.cli.hmc_syntax import HmcArgumentParser, listing, listing_options
from openlpm.clients.console import HmcClient
from openlpm.model import ResourceType, SysConn, SysConnCreate, host_address

RESOURCE_TYPES = [kind.value for kind in ResourceType]


def address(value: str) -> str:
    """An IP address or host name, refused as an argument error before anything is sent."""
    try:
        return host_address(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (1 to 65535)")
    return int(value)


def connection_record(connection: SysConn) -> dict[str, object]:
    return connection.model_dump(mode="json")


def mksysconn_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(
        prog="mksysconn", description="Manage the system whose agent answers at an "
        "address (or connect the SAN there), under the name it gives.")
    parser.add_argument("--ip", required=True, metavar="ADDR", type=address,
                        help="the agent's (or SAN's) IP address or host name")
    parser.add_argument("-r", dest="resource_type", choices=RESOURCE_TYPES, default="sys",
                        help="sys: a managed system's agent (default); san: the SAN")
    parser.add_argument("--passwd", metavar="CODE",
                        help="the one-time enrollment code of a service no console "
                        "enrolled yet (its tls/enrollment-code file); '-' reads it from "
                        "standard input, out of other users' sight")
    parser.add_argument("--port", type=port, metavar="N",
                        help="the service's port (sys: 8470, san: 8490)")
    return parser


async def _mksysconn(args: argparse.Namespace, hmc: HmcClient) -> None:
    # A code on the command line is in /proc for every local user to read, and to race
    # the console to the service with: '-' takes it from standard input instead.
    code = sys.stdin.readline().strip() if args.passwd == "-" else args.passwd
    await hmc.connect(SysConnCreate(ip=args.ip, resource_type=ResourceType(args.resource_type),
                                    password=code, port=args.port))


def mksysconn(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(mksysconn_parser, _mksysconn, argv)


def lssysconn_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="lssysconn", description="List the console's "
                               "connections to managed systems and to the SAN.")
    parser.add_argument("-r", dest="resource", required=True, choices=["all"])
    listing_options(parser)
    return parser


async def _lssysconn(args: argparse.Namespace, hmc: HmcClient) -> None:
    listing([connection_record(c) for c in await hmc.connections()], args)


def lssysconn(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(lssysconn_parser, _lssysconn, argv)


def rmsysconn_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(
        prog="rmsysconn", description="Stop managing the system at an address (its "
        "partitions keep running), or connect to it again.")
    parser.add_argument("-o", dest="operation", required=True, choices=["remove", "reset"],
                        help="remove: forget the connection; reset: connect again")
    parser.add_argument("--ip", required=True, metavar="ADDR", type=address,
                        help="the address the connection was made with")
    parser.add_argument("-r", dest="resource_type", choices=RESOURCE_TYPES, default="sys")
    return parser


async def _rmsysconn(args: argparse.Namespace, hmc: HmcClient) -> None:
    kind = ResourceType(args.resource_type)
    if args.operation == "remove":
        await hmc.disconnect(args.ip, kind)
    else:
        await hmc.reset_connection(args.ip, kind)


def rmsysconn(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(rmsysconn_parser, _rmsysconn, argv)
