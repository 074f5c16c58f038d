"""``openlpm``: the umbrella command — services, the lab, the image, consoles, the demo."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openlpm import __version__, config
from openlpm.cli.runner import report_error, run_command
from openlpm.cli.sizes import mb, size_mb
from openlpm.clients.console import HmcClient
from openlpm.clients.console_address import hmc_url
from openlpm.errors import OpenLpmError, RequestInvalid
from openlpm.model import MAX_IO_SERVICES


def _add(group: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
         text: str) -> argparse.ArgumentParser:
    return group.add_parser(name, help=text,
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def _service(parser: argparse.ArgumentParser, part: str) -> None:
    """The serve command as ``openlpm --help`` lists it; ``main`` parses it with
    ``serve_parser``, after its configuration file."""
    config.add_config_option(parser, part)
    _serve_module(part).add_arguments(parser)


def serve_parser(part: str) -> argparse.ArgumentParser:
    """The options of ``openlpm PART serve``, with --config."""
    serving = argparse.ArgumentParser(
        prog=f"openlpm {part} serve", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    config.add_config_option(serving, part)
    _serve_module(part).add_arguments(serving)
    return serving


def _serve_module(part: str) -> Any:
    return importlib.import_module(SERVICES[part])


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="openlpm", description="Live Partition Mobility for Linux.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    top.add_argument("--version", action="version", version=f"openlpm {__version__}")
    parts = top.add_subparsers(dest="part", required=True, metavar="COMMAND")
    for commands in (_service_commands, _install_commands, _san_commands, _user_commands,
                     _lab_commands, _site_commands, _partition_commands):
        commands(parts)
    return top


def _service_commands(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The services of the parts, each run by its own serve module."""
    hmc = _add(parts, "hmc", "the management console").add_subparsers(
        dest="action", required=True)
    _service(_add(hmc, "serve", "run the console's REST API"), "hmc")

    agent = _add(parts, "agent", "a managed system's agent").add_subparsers(
        dest="action", required=True)
    _service(_add(agent, "serve", "run the agent's REST API"), "agent")

    mover = _add(parts, "mover", "a mover service").add_subparsers(
        dest="action", required=True)
    _service(_add(mover, "serve", "run a mover service"), "mover")
    enroll = _add(mover, "enroll", "issue a system's mover services certificates from this "
                  "console's authority (done when a system is added)")
    enroll.add_argument("-m", dest="system", required=True, help="managed system")


def _install_commands(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Running the services under systemd."""
    from openlpm.install.units import ROLES

    units = _add(parts, "install-units", "write services' systemd units and sample "
                 "configuration files; name the Debian packages they lack")
    units.description = ("Write /etc/systemd/system/openlpm-ROLE.service of each ROLE, run "
                         "by this Python, and, unless there is one, a sample "
                         "/etc/openlpm/ROLE.toml (0600); say which Debian packages the "
                         "roles need and this host lacks (nothing is installed).")
    units.add_argument("roles", nargs="+", choices=ROLES, metavar="ROLE",
                       help=f"one or more of {', '.join(ROLES)}")
    units.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                       help="write under DIR instead of / (an image, a container's root)")
    units.add_argument("--no-reload", action="store_true",
                       help="never run systemctl daemon-reload (it runs when --root is / "
                            "and systemd runs this host)")


def _san_commands(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The SAN: its service, its LUNs and who may reach them."""
    san = _add(parts, "san", "the SAN: LUNs over NBD, mapped per WWPN or per host").add_subparsers(
        dest="action", required=True)
    _service(_add(san, "serve", "run a SAN service"), "san")
    mklun = _add(san, "mklun", "create a LUN: empty, or a copy of an image file on the SAN "
                 "host")
    mklun.add_argument("-l", dest="lun", required=True, help="LUN name")
    size = mklun.add_mutually_exclusive_group()
    size.add_argument("--size", dest="size_mb", type=size_mb, default=0, metavar="SIZE",
                      help="size as qemu-img takes it (512M, 20G), whole MB; at least the "
                           "source's, which is the default")
    size.add_argument("--size-mb", type=mb, default=0, help="size in MB; 0: the source's")
    mklun.add_argument("--source", metavar="FILE",
                       help="disk image to copy (raw) or convert to raw (qcow2, VMDK, VDI, "
                            "VHDX, VHD...), in the SAN's import directory (san serve "
                            "--import-dir)")
    rmlun = _add(san, "rmlun", "delete an unmapped LUN and its data")
    rmlun.add_argument("-l", dest="lun", required=True, help="LUN name")
    lslun = _add(san, "lslun", "list LUNs, their exports and mappings")
    lslun.add_argument("-F", metavar="ATTRIBUTES", nargs="?", const="",
                       help="print only these attributes (name, size_mb, export, mappings)")
    lslun.add_argument("--header", action="store_true", help="with -F, a header line")
    for action, text in (("map", "let a WWPN (NPIV) or a system's I/O service (vSCSI) "
                                 "reach a LUN"), ("unmap", "take that access away")):
        change = _add(san, action, text)
        change.add_argument("-l", dest="lun", required=True, help="LUN name")
        who = change.add_mutually_exclusive_group(required=True)
        who.add_argument("--wwpn", help="a virtual FC adapter's WWPN")
        who.add_argument("--host", metavar="SYSTEM", help="a managed system's I/O service")
        change.add_argument("--io-service", type=int, default=1, metavar="N",
                            choices=range(1, MAX_IO_SERVICES + 1),
                            help="with --host: which of its I/O services")


def _user_commands(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Signing in and API tokens."""
    sign_in = _add(parts, "login", "sign in to the console; the session's token is saved "
                   "(mode 0600) for the other commands")
    sign_in.add_argument("-u", dest="user", default="hscroot", help="user name")
    _add(parts, "logout", "end the session and forget its token")
    tokens = _add(parts, "token", "API tokens for scripts (they do not expire until "
                  "removed)").add_subparsers(dest="action", required=True)
    create = _add(tokens, "create", "make a token for the signed-in user; it is shown once")
    create.add_argument("--name", required=True, help="what the token is for")
    listed = _add(tokens, "list", "list the signed-in user's tokens (never their secret)")
    listed.add_argument("-F", metavar="ATTRIBUTES", nargs="?", const="",
                        help="print only these attributes (id, name, user, created, "
                             "last_used)")
    listed.add_argument("--header", action="store_true", help="with -F, a header line")
    removed = _add(tokens, "rm", "remove a token: scripts using it are refused from now on")
    removed.add_argument("id", help="the token's id (token list)")


def _lab_commands(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """A lab, and the partition image it boots."""
    lab = _add(parts, "lab", "a whole site on this machine").add_subparsers(
        dest="action", required=True)
    lab_up = _add(lab, "up", "start a lab: HMC, managed systems, movers")
    lab_up.add_argument("--systems", type=int, default=2, help="number of managed systems")
    lab_up.add_argument("--prefix", default="olpm", help="name prefix of everything made")
    lab_up.add_argument("--cpus", type=int, default=8, help="processors per system")
    lab_up.add_argument("--memory-mb", type=int, default=8192, help="memory per system, MB")
    lab_up.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto")
    lab_up.add_argument("--hmc-port", type=int, default=8480)
    lab_up.add_argument("--partition-args", default="", metavar="ARGS",
                        help="extra kernel arguments of every partition, e.g. "
                        "openlpm.fill_mb=400 to fill 400 MiB of memory with random data")
    lab_up.add_argument("--names", type=lambda text: tuple(text.split(",")), default=(),
                        metavar="A,B,...", help="system names (default sys1, sys2, ...; "
                        "overrides --systems)")
    lab_up.add_argument("--mover-suffix", default="-msp1",
                        help="each system's mover service is named SYSTEM+SUFFIX")
    lab_up.add_argument("--hmc-name", default="hmc", help="the console's name (migrlpar --ip)")
    lab_up.add_argument("--remote-hmc", default="", metavar="NAME",
                        help="start a second console named NAME that manages the last "
                        "system (migrations across consoles: mkauthkeys, migrlpar --ip)")
    lab_up.add_argument("--io-services", type=int, default=1, metavar="N",
                        choices=range(1, MAX_IO_SERVICES + 1),
                        help="I/O services (paths to the SAN) of every system")
    lab_restart = _add(lab, "restart", "end one service of a lab and start it again")
    lab_restart.add_argument("--prefix", default="olpm")
    lab_restart.add_argument("role", help="hmc, remote-hmc, san, SYSTEM-agent or "
                             "SYSTEM-mover (see lab.json)")
    lab_down = _add(lab, "down", "remove every process, namespace and file of a lab")
    lab_down.add_argument("--prefix", default="olpm")

    image = _add(parts, "image", "the partition image").add_subparsers(
        dest="action", required=True)
    build = _add(image, "build", "build the partition boot image")
    build.add_argument("--out", type=Path, default=None, help="output directory")
    from openlpm.lab.os_image import os_names

    build.add_argument("--os", choices=os_names(), default=None,
                       help="instead, a bootable disk image of this operating system, "
                            "cached: the disk NAME.raw in /var/cache/openlpm/image (where "
                            "the lab's SAN imports from), its root SSH key and database "
                            "password in /var/cache/openlpm/os/NAME (or --out)")


def _site_commands(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Maintenance, evacuation and balance of the site."""
    maintenance = _add(parts, "maintenance", "put a managed system in maintenance (no new "
                       "partition, no incoming migration) or take it out")
    maintenance.add_argument("-m", dest="system", required=True, help="managed system")
    maintenance.add_argument("--off", action="store_true", help="end maintenance")

    evacuate = _add(parts, "evacuate", "empty a managed system for maintenance: put it in "
                    "maintenance and migrate each of its partitions to a system that passes "
                    "validation for it")
    evacuate.add_argument("-m", dest="system", required=True, help="managed system")
    evacuate.add_argument("--to", metavar="SYS,...",
                          help="the systems that may receive its partitions; all others "
                               "when left out")
    evacuate.add_argument("--dry-run", action="store_true",
                          help="print the plan and each partition's verdict; change nothing")
    evacuate.add_argument("-F", metavar="ATTRIBUTES", nargs="?", const="",
                          help="print the plan (--dry-run) or the report as these "
                               "attributes, HMC style, instead of tables")
    evacuate.add_argument("--header", action="store_true", help="with -F, a header line")

    balance = _add(parts, "balance", "even out the load across managed systems with as "
                   "few migrations as possible")
    balance.add_argument("--goal", choices=["cpu", "memory"], default="cpu",
                         help="processor time used over --window, or memory given")
    balance.add_argument("--max-moves", type=int, default=5, help="at most this many moves")
    balance.add_argument("--window", type=float, default=60.0, metavar="S",
                         help="seconds of processor use to balance on (at most 600)")
    balance.add_argument("--policy", type=Path, metavar="FILE",
                         help="TOML: [[pin]] partition/system, [[apart]] partitions")
    balance.add_argument("--dry-run", action="store_true",
                         help="print the loads and the moves; move nothing")
    balance.add_argument("-F", metavar="ATTRIBUTES", nargs="?", const="",
                         help="print the moves as these attributes (name, source, target, "
                         "migration_id, reason)")
    balance.add_argument("--header", action="store_true", help="with -F, a header line")


def _partition_commands(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """A partition's console, and the demo."""
    from openlpm.lab.os_image import os_names

    console = _add(parts, "console", "recent console output of a partition")
    console.add_argument("-m", dest="system", required=True, help="managed system")
    console.add_argument("-p", dest="partition", required=True, help="partition name")
    console.add_argument("--lines", type=int, default=20)
    console.add_argument("--stamps", action="store_true", help="show receive time and system")

    demo = _add(parts, "demo", "lab up, migrate a running partition, prove it, "
                            "lab down")
    demo.add_argument("--memory-mb", type=int, default=None,
                      help="partition memory, MB (512; 768 with --os)")
    demo.add_argument("--fill-mb", type=int, default=200,
                      help="MiB of random data the workload keeps in memory (the lab's "
                           "image only)")
    demo.add_argument("--os", choices=os_names(), default=None,
                      help="move a real installation instead of the lab's quick image: a "
                           "partition booted by firmware from its SAN LUN, serving "
                           "PostgreSQL to pgbench while it moves (builds the image the "
                           "first time, a few minutes; the move itself takes a few more)")


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:2] in ([part, "serve"] for part in SERVICES):
        return _serve(words[0], words[2:])
    args = parser().parse_args(words)
    return run_command(lambda: _dispatch(args))


def _serve(part: str, argv: list[str]) -> int:
    """Run a service with its options from its configuration file and ``argv``."""
    from openlpm.private import restrict_umask
    from openlpm.service import configure_logging

    configure_logging()
    serving = serve_parser(part)
    # A service that cannot start says why as every command does (its files, keys).
    try:
        path = config.chosen_file(argv, part)
        if path is not None:
            config.apply(serving, path)
        args = serving.parse_args(argv)
        logging.getLogger(f"openlpm.{part}").info(
            "openlpm %s: %s serve%s starting, configuration %s", __version__, part,
            f" {args.name}" if getattr(args, "name", None) else "", path or "none")
        # What a service and its children (QEMU, the SAN's exports) make is theirs only.
        restrict_umask()
        _serve_module(part).serve(args)
    except OpenLpmError as exc:
        return report_error(exc)
    return 0


async def _dispatch(args: argparse.Namespace) -> int | None:
    from openlpm.lab import site

    if args.part == "lab" and args.action == "up":
        await site.up(site.LabSpec(
            prefix=args.prefix, systems=args.systems, cpus=args.cpus,
            memory_mb=args.memory_mb, accel=args.accel, hmc_port=args.hmc_port,
            partition_args=args.partition_args, names=args.names,
            mover_suffix=args.mover_suffix, hmc_name=args.hmc_name,
            remote_hmc=args.remote_hmc, io_services=args.io_services))
    elif args.part == "lab" and args.action == "restart":
        pid = await site.restart(args.prefix, args.role)
        print(f"{args.role} of lab {args.prefix} restarted (pid {pid})")
    elif args.part == "lab":
        await site.down(args.prefix)
    elif args.part == "image" and args.os:
        from openlpm.lab.os_image import build_os_image

        made = await asyncio.to_thread(build_os_image, args.os, args.out,
                                       lambda text: print(text, file=sys.stderr))
        print(f"disk={made.disk}\nssh_key={made.ssh_key}\ndb_password={made.db_password}")
    elif args.part == "image":
        from openlpm.lab.image import build_image

        image = await asyncio.to_thread(build_image, args.out or site.IMAGE_DIR)
        print(f"kernel={image.kernel}\ninitrd={image.initrd}")
    elif args.part == "install-units":
        _install_units(args)
    elif args.part == "console":
        await _console(args)
    elif args.part == "balance":
        from openlpm.cli.balance import balance

        return await balance(args)
    elif args.part == "evacuate":
        from openlpm.cli.evacuate import evacuate

        return await evacuate(args)
    elif args.part == "maintenance":
        async with HmcClient(hmc_url()) as hmc:
            info = await hmc.set_maintenance(args.system, not args.off)
        print(f"{info.name}: maintenance {'on' if info.maintenance else 'off'}")
    elif args.part in ("login", "logout", "token"):
        from openlpm.cli import users

        await {"login": users.login, "logout": users.logout, "token": users.token}[
            args.part](args)
    elif args.part == "san":
        from openlpm.cli.virtualio import san

        await san(args)
    elif args.part == "mover":
        async with HmcClient(hmc_url()) as hmc:
            for mover in await hmc.enroll_movers(args.system):
                assert mover.certificate is not None
                print(f"{mover.name}: certificate {mover.certificate.subject} from "
                      f"{mover.certificate.authority} "
                      f"({mover.certificate.authority_fingerprint[:23]}...)")
    elif args.part == "demo" and args.os:
        from openlpm.lab.demo_linux import run_linux_demo

        await run_linux_demo(args.os, memory_mb=args.memory_mb or 768)
    elif args.part == "demo":
        from openlpm.lab.demo import run_demo

        await run_demo(fill_mb=args.fill_mb, memory_mb=args.memory_mb or 512)
    else:
        raise RequestInvalid(f"Unknown command {args.part}.")
    return None


def _install_units(args: argparse.Namespace) -> None:
    from openlpm.install import units

    samples = {role: config.sample(serve_parser(role), role) for role in args.roles}
    done = units.install(args.roles, args.root, samples, reload=not args.no_reload)
    print("\n".join(units.report(done, args.roles)))


async def _console(args: argparse.Namespace) -> None:
    async with HmcClient(hmc_url()) as hmc:
        for line in await hmc.console(args.system, args.partition, args.lines):
            if args.stamps:
                print(f"{line.t:.3f} {line.system:>8} {line.text}")
            else:
                print(line.text)


# Each part launches itself: its serve module owns its options and its start-up.
SERVICES = {part: f"openlpm.{part}.serve" for part in ("hmc", "agent", "mover", "san")}

if __name__ == "__main__":
    sys.exit(main())
