"""SSH keys and trust between consoles from the command line: the HMC's ``mkauthkeys``
and ``lsauthkeys``.

``mkauthkeys -a "KEYLINE"`` adds an SSH public key the signed-in user (or ``-u USER``'s,
for a super administrator) signs in with at the console's SSH door; ``mkauthkeys -r
"KEYLINE"|"user@host"`` removes it; ``lsauthkeys`` lists them.

``mkauthkeys --ip REMOTE [-u USER] [--passwd PASSWORD]`` has this console exchange keys
with another console, as USER there (the signed-in user's own name by default), whose
password is ``--passwd``'s, or asked for at a terminal, or the first line of standard
input: afterwards ``migrlpar --ip REMOTE -u USER`` migrates to the remote's systems, with
what USER's role there allows. ``-r --ip REMOTE -u USER`` forgets the keys; ``--test``
checks that they still work (``HSCL3653`` when not, as the HMC, which IBM's Ansible
collection looks for); ``lsauthkeys --remote`` lists the consoles keys were exchanged
with.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence

from openlpm.cli.hmc_command import run_hmc_command
from openlpm.cli.hmc_syntax import HmcArgumentParser, listing, listing_options
from openlpm.cli.users import read_secret
from openlpm.clients.console import HmcClient
from openlpm.errors import NotPermitted, ObjectNotFound, OpenLpmError, RequestInvalid
from openlpm.model import FINGERPRINT_PATTERN, AuthorizedKey, KeyExchange

# The HMC's code for "no working keys for that console and user" (mkauthkeys --test).
NO_KEYS = "HSCL3653"


def sha256_fingerprint(value: str) -> str:
    if not re.fullmatch(FINGERPRINT_PATTERN, value):
        raise argparse.ArgumentTypeError(
            f"not a SHA-256 fingerprint (32 hexadecimal bytes, as AB:CD:...): {value!r}")
    return value


def mkauthkeys_parser() -> argparse.ArgumentParser:
    parser = HmcArgumentParser(
        prog="mkauthkeys", description="Add or remove an SSH key a console user signs in "
        "with at the console's SSH door (-a, -r), or exchange keys with another console so "
        "that this one may migrate partitions to the systems it manages (--ip; migrlpar "
        "--ip REMOTE -u USER), test them (--test) or forget them (-r --ip).",
        epilog="--passwd gives the remote user's password in the command line, as on the "
        "HMC: it is then seen by anyone who lists this host's processes, and kept in the "
        "shell's history; without it, the password is asked for at a terminal or read from "
        "standard input's first line, which is safer. The console's audit log never holds "
        "it. The exchange is always both ways (each console trusts the other's movers), so "
        "-g changes nothing.")
    parser.add_argument("key", nargs="?", metavar="KEYLINE",
                        help="with -a, an OpenSSH public key line ('ssh-ed25519 AAAA... "
                        "user@host'); with -r, such a line, its comment (user@host) or "
                        "its fingerprint (lsauthkeys -F fingerprint)")
    parser.add_argument("-a", "--add", action="store_true",
                        help="add KEYLINE to the keys USER signs in with at the SSH door")
    parser.add_argument("-r", "--remove", action="store_true",
                        help="remove from USER's keys the one KEYLINE names (the whole "
                        "line, its base64 part, its comment such as user@host, its "
                        "fingerprint or its id, as lsauthkeys shows them); with --ip, forget "
                        "the keys for USER of REMOTE instead")
    parser.add_argument("-u", dest="user",
                        help="with -a/-r: the console user whose keys (default: the "
                        "signed-in user; another's need hmcsuperadmin); with --ip: the "
                        "user of the remote console to act as (default: the signed-in "
                        "user's name)")
    parser.add_argument("--ip", metavar="REMOTE",
                        help="the remote console: its address (host or host:port; port "
                        "8480 by default), or its name once keys were exchanged")
    parser.add_argument("--passwd", metavar="PASSWORD",
                        help="with --ip: USER's password on REMOTE (see the risk below)")
    parser.add_argument("-g", dest="both_ways", action="store_true",
                        help="with --ip: the HMC's 'the other way too'; openlpm's "
                        "exchange is always both ways, so it is accepted and changes "
                        "nothing")
    parser.add_argument("--test", action="store_true",
                        help="with --ip: exit 0 if this console holds keys for USER of "
                        "REMOTE and they still work (a call made there with them), else "
                        f"{NO_KEYS} and a non-zero exit status")
    parser.add_argument("--fingerprint", metavar="SHA256", type=sha256_fingerprint,
                        help="with --ip: the SHA-256 fingerprint of the remote console's "
                        "certificate (openssl x509 -noout -fingerprint -sha256 -in "
                        "console.crt, there): keys are exchanged only if it answers with "
                        "that certificate; without it, the certificate met is trusted "
                        "from now on")
    return parser


def _wrong(message: str) -> RequestInvalid:
    return RequestInvalid(f"mkauthkeys: {message}. See mkauthkeys --help.", code="HSCLF001")


def mode(args: argparse.Namespace) -> str:
    """What ``mkauthkeys`` is asked to do: ``add``, ``remove``, ``exchange``, ``forget``
    or ``test``.

    Raises RequestInvalid (HSCLF001) for options that do not go together.
    """
    if args.add and args.remove:
        raise _wrong("give -a or -r, not both")
    if args.ip is None:
        for given, name in ((args.test, "--test"), (args.passwd, "--passwd"),
                            (args.both_ways, "-g"), (args.fingerprint, "--fingerprint")):
            if given:
                raise _wrong(f"{name} goes with --ip")
        if not (args.add or args.remove):
            raise _wrong("give -a KEYLINE, -r KEYLINE or --ip REMOTE")
        if not args.key:
            raise _wrong(f"{'-a' if args.add else '-r'} needs a KEYLINE")
        return "add" if args.add else "remove"
    if args.add or args.key:
        raise _wrong("a KEYLINE (-a, -r) and --ip do not go together")
    if args.test:
        if args.remove or args.passwd or args.both_ways or args.fingerprint:
            raise _wrong("--test goes with --ip and -u only")
        return "test"
    if args.remove:
        if args.passwd or args.both_ways or args.fingerprint:
            raise _wrong("-r --ip goes with -u only")
        return "forget"
    return "exchange"


async def _user(args: argparse.Namespace, hmc: HmcClient) -> str:
    """-u's user, or the signed-in user's own name, as the HMC."""
    return str(args.user) if args.user else (await hmc.whoami()).name


async def _mkauthkeys(args: argparse.Namespace, hmc: HmcClient) -> None:
    action = mode(args)
    user = await _user(args, hmc)
    if action == "add":
        await hmc.add_key(user, args.key)
    elif action == "remove":
        await hmc.remove_key(user, args.key)
    elif action == "test":
        await _test(args.ip, user, hmc)
    elif action == "forget":
        await hmc.forget_keys(args.ip, user)
        print(f"keys for {user} of console {args.ip} forgotten")
    else:
        await _exchange(args, user, hmc)


async def _exchange(args: argparse.Namespace, user: str, hmc: HmcClient) -> None:
    fingerprint = await _confirmed_fingerprint(args, hmc)
    password = args.passwd or read_secret(f"Password of {user} on {args.ip}: ")
    remote = await hmc.exchange_keys(KeyExchange(
        ip=args.ip, user=user, fingerprint=fingerprint, password=password))
    print(f"keys exchanged with console {remote.name} ({remote.url}) for user "
          f"{remote.user}; its mover authority {remote.mover_authority_fingerprint} is "
          f"trusted by this console's movers")
    if remote.certificate_fingerprint:
        print(f"its certificate, trusted from now on: SHA256 {remote.certificate_fingerprint} "
              f"(compare with 'openssl x509 -noout -fingerprint -sha256 -in console.crt' "
              f"in its --tls-dir)")


async def _test(ip: str, user: str, hmc: HmcClient) -> None:
    """Quiet when the keys held for ``user`` of console ``ip`` sign in there now.

    Raises an error of code HSCL3653 when this console holds none or they fail; a
    refusal of this console's own (the user's role here) as it is.
    """
    try:
        await hmc.remote_systems(ip, user)
    except NotPermitted as exc:
        if not exc.message.startswith("Remote console"):
            raise
        raise _no_keys(ip, user, exc) from None
    except OpenLpmError as exc:
        raise _no_keys(ip, user, exc) from None


def _no_keys(ip: str, user: str, cause: OpenLpmError) -> OpenLpmError:
    kind = ObjectNotFound if cause.code in ("HSCLF520", "HSCLF521") else type(cause)
    return kind(f"The keys between this console and console {ip} are not set up, or no "
                f"longer work, for user {user} ({cause.code} {cause.message}). Run "
                f"'mkauthkeys --ip {ip} -u {user}' to exchange them.", code=NO_KEYS)


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
    parser = HmcArgumentParser(
        prog="lsauthkeys", description="List the SSH keys a console user signs in with at "
        "the console's SSH door (attributes: type, key, comment, fingerprint, added, id), "
        "or with --remote the consoles this console exchanged keys with (name, url, user, "
        "added, mover_authority, certificate).")
    parser.add_argument("-u", dest="user", help="the user whose keys (default: the "
                        "signed-in user; another's need hmcsuperadmin)")
    parser.add_argument("--remote", action="store_true",
                        help="list the consoles keys were exchanged with (mkauthkeys --ip)")
    listing_options(parser)
    return parser


def _stamp(at: float) -> str:
    return time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(at))


def key_record(key: AuthorizedKey) -> dict[str, object]:
    return {"type": key.type, "key": key.key, "comment": key.comment,
            "fingerprint": key.fingerprint, "added": _stamp(key.added), "id": key.id}


async def _lsauthkeys(args: argparse.Namespace, hmc: HmcClient) -> None:
    if args.remote:
        if args.user:
            raise RequestInvalid("lsauthkeys: -u names a console user whose SSH keys are "
                                 "listed; --remote lists every console keys were exchanged "
                                 "with. See lsauthkeys --help.", code="HSCLF001")
        listing([{"name": r.name, "url": r.url, "user": r.user, "added": _stamp(r.added),
                  "mover_authority": r.mover_authority_fingerprint,
                  "certificate": r.certificate_fingerprint}
                 for r in await hmc.remote_consoles()], args)
        return
    user = await _user(args, hmc)
    listing([key_record(k) for k in await hmc.keys(user)], args)


def lsauthkeys(argv: Sequence[str] | None = None) -> int:
    return run_hmc_command(lsauthkeys_parser, _lsauthkeys, argv)
