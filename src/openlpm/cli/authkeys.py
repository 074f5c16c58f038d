"""Trust between consoles from the command line: the HMC's ``mkauthkeys`` and
``lsauthkeys``.

``mkauthkeys --ip REMOTE -u USER`` asks for USER's password on the remote console (at a
terminal, or the first line of standard input) and has this console exchange keys with
it: afterwards ``migrlpar --ip REMOTE -u USER`` migrates to the remote's systems, with
what USER's role there allows. ``-r`` forgets the keys.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence

from openlpm.cli.hmc_command import HmcArgumentParser, listing, listing_options, run_hmc_command
from openlpm.cli.users import read_secret
from openlpm.clients.console import HmcClient
from openlpm.errors import RequestInvalid
from openlpm.model import FINGERPRINT_PATTERN, KeyExchange


def sha256_fingerprint(value: str) -> str:
    if not re.fullmatch(FINGERPRINT_PATTERN, value):
        raise argparse.ArgumentTypeError(
            f"not a SHA-256 fingerprint (32 hexadecimal bytes, as AB:CD:...): {value!r}")
    return value


def mkauthkeys_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(
        prog="mkauthkeys", description="Exchange keys with another console, so that this "
        "one may migrate partitions to the systems it manages (migrlpar --ip REMOTE -u "
        "USER). USER's password on REMOTE is asked for, or read from standard input.")
    parser.add_argument("--ip", required=True, metavar="REMOTE",
                        help="the remote console: its address (host or host:port; port "
                        "8480 by default), or its name once keys were exchanged")
    parser.add_argument("-u", dest="user", required=True,
                        help="the user of the remote console to act as")
    parser.add_argument("--fingerprint", metavar="SHA256", type=sha256_fingerprint,
                        help="the SHA-256 fingerprint of the remote console's certificate "
                        "(openssl x509 -noout -fingerprint -sha256 -in console.crt, there): "
                        "keys are exchanged only if it answers with that certificate; "
                        "without it, the certificate met is trusted from now on")
    parser.add_argument("-r", dest="remove", action="store_true",
                        help="forget the keys for USER of REMOTE instead")
    return parser


async def _mkauthkeys(args: argparse.Namespace, hmc: HmcClient) -> None:
    if args.remove:
        await hmc.forget_keys(args.ip, args.user)
        print(f"keys for {args.user} of console {args.ip} forgotten")
        return
    remote = await hmc.exchange_keys(KeyExchange(
        ip=args.ip, user=args.user, fingerprint=await _confirmed_fingerprint(args, hmc),
        password=read_secret(f"Password of {args.user} on {args.ip}: ")))
    print(f"keys exchanged with console {remote.name} ({remote.url}) for user "
          f"{remote.user}; its mover authority {remote.mover_authority_fingerprint} is "
          f"trusted by this console's movers")
    if remote.certificate_fingerprint:
        print(f"its certificate, trusted from now on: SHA256 {remote.certificate_fingerprint} "
              f"(compare with 'openssl x509 -noout -fingerprint -sha256 -in console.crt' "
              f"in its --tls-dir)")


async def _confirmed_fingerprint(args: argparse.Namespace, hmc: HmcClient) -> str | None:
    """The certificate to insist on: --fingerprint's, or at a terminal the one the remote
    console answers with now, once the user said it is that console's (before any
    password is asked for). A script without --fingerprint trusts the one met."""
    if args.fingerprint is not None or not sys.stdin.isatty():
        return str(args.fingerprint) if args.fingerprint else None
    met = await hmc.remote_certificate(args.ip)
    answer = input(f"Console {args.ip} at {met.url} answers with the certificate\n"
                   f"  SHA256 {met.fingerprint}\n(compare with 'openssl x509 -noout "
                   f"-fingerprint -sha256 -in console.crt' in its --tls-dir).\n"
                   f"Is it that console's? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise RequestInvalid("Keys were not exchanged and no password was sent: the "
                             "certificate was not confirmed.", code="HSCLF541")
    return met.fingerprint


def mkauthkeys(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(mkauthkeys_parser, _mkauthkeys, argv)


def lsauthkeys_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(prog="lsauthkeys", description="List the consoles this "
                               "console exchanged keys with, and the user it acts as there.")
    listing_options(parser)
    return parser


async def _lsauthkeys(args: argparse.Namespace, hmc: HmcClient) -> None:
    listing([{"name": r.name, "url": r.url, "user": r.user,
              "added": time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(r.added)),
              "mover_authority": r.mover_authority_fingerprint,
              "certificate": r.certificate_fingerprint}
             for r in await hmc.remote_consoles()], args)


def lsauthkeys(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(lsauthkeys_parser, _lsauthkeys, argv)
