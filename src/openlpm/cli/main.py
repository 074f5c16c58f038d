"""``openlpm``: the umbrella command — services, the lab, the image, consoles, the demo."""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from openlpm import __version__
from openlpm.cli.runner import report_error, run_command
from openlpm.clients.console import HmcClient, hmc_url
from openlpm.errors import OpenLpmError, RequestInvalid
from openlpm.model import MAX_IO_SERVICES


def _add(group: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
         text: str) -> argparse.ArgumentParser:
    return group.add_parser(name, help=text,
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="openlpm", description="Live Partition Mobility for Linux.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    top.add_argument("--version", action="version", version=f"openlpm {__version__}")
    parts = top.add_subparsers(dest="part", required=True, metavar="COMMAND")

    hmc = _add(parts, "hmc", "the management console").add_subparsers(
        dest="action", required=True)
    serve = _add(hmc, "serve", "run the console's REST API")
    serve.add_argument("--listen", default="127.0.0.1:8480", help="HOST:PORT to answer on")
    serve.add_argument("--db", type=Path, default=Path("/var/lib/openlpm/hmc.db"),
                       help="inventory database (SQLite)")
    serve.add_argument("--name", default=socket.gethostname(),
                       help="this console's name, as --ip of migrlpar may give it")
    serve.add_argument("--admin-password-file", type=Path, metavar="FILE",
                       help="a file whose first line is the password of --admin-user, "
                            "made a super administrator unless that user exists (how a "
                            "new console gets its first user)")
    serve.add_argument("--admin-user", default="hscroot",
                       help="the first super administrator's name")
    serve.add_argument("--reach-netns", metavar="NS",
                       help="after binding, reach managed systems from network namespace NS")
    serve.add_argument("--tls-dir", type=Path, metavar="DIR",
                       help="answer over HTTPS with the console's own key and certificate, "
                            "kept in DIR (made at first start; clients pin console.crt)")
    serve.add_argument("--peer-listen", metavar="HOST:PORT",
                       help="also answer here, bound inside --reach-netns when given: "
                            "where other consoles reach this one (mkauthkeys --ip)")
    serve.add_argument("--san-url", help="the site's SAN (its control API): LUNs, mappings, "
                                         "and the storage steps of migrations")
    serve.add_argument("--san-key-file", type=Path, metavar="FILE",
                       help="the SAN's console.key (made in its STATE_DIR/keys at its first "
                            "start), which lets this console use its control API")

    agent = _add(parts, "agent", "a managed system's agent").add_subparsers(
        dest="action", required=True)
    serve = _add(agent, "serve", "run the agent's REST API")
    serve.add_argument("--name", required=True, help="managed system name")
    serve.add_argument("--listen", required=True, help="HOST:PORT to answer on")
    serve.add_argument("--state-dir", type=Path, required=True,
                       help="profile store and runtime files")
    serve.add_argument("--cpus", type=int, required=True, help="processors partitions may use")
    serve.add_argument("--memory-mb", type=int, required=True,
                       help="memory partitions may use, in MB")
    serve.add_argument("--accel", choices=["kvm", "tcg"], required=True)
    serve.add_argument("--kernel", type=Path, required=True, help="partition kernel")
    serve.add_argument("--initrd", type=Path, required=True, help="partition initramfs")
    serve.add_argument("--kernel-args", required=True)
    serve.add_argument("--mover-socket", type=Path, metavar="PATH",
                       help="the local socket of this system's mover service (its "
                            "STATE_DIR/local.sock)")
    serve.add_argument("--san-url", help="the SAN's control API (for virtual FC and SCSI)")
    serve.add_argument("--san-key-file", type=Path, metavar="FILE",
                       help="the SAN's hosts.key (in its STATE_DIR/keys), which lets this "
                            "system log in to the SAN and see its LUNs")
    serve.add_argument("--io-services", type=int, default=1, choices=range(1, MAX_IO_SERVICES + 1),
                       metavar="N", help="this system's I/O services (paths to the SAN, like "
                       "Virtual I/O Servers; 2 for redundant paths); the SAN knows "
                       "them as host:SYSTEM, host:SYSTEM:2, ...")
    serve.add_argument("--vlans", type=_vlan_list, default=None, metavar="VID,...",
                       help="the VLANs this system's virtual switch bridges to the network "
                            "(VXLAN over --uplink); without it, no virtual Ethernet")
    serve.add_argument("--uplink", default="eth0", help="the interface the virtual switch "
                       "reaches the network through")
    serve.add_argument("--tls-dir", type=Path, metavar="DIR",
                       help="its key, certificates and one-time enrollment code (default: "
                            "STATE_DIR/tls); it serves over TLS, answering only the console "
                            "that enrolls this system, and nothing else until then")
    serve.add_argument("--insecure", action="store_true",
                       help="serve plain HTTP to anyone who reaches --listen: only for a "
                            "host whose network nobody else reaches")
    serve.add_argument("--allow-dir", type=Path, action="append", metavar="DIR",
                       dest="allow_dirs",
                       help="a directory whose files and subdirectories partitions may be "
                            "given as host-local disks and shares (repeatable); without "
                            "it, every host-local disk and share is refused")
    serve.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    serve.add_argument("--max-active-migrations", type=int, default=16,
                       help="active migrations this system takes part in at once")
    serve.add_argument("--max-inactive-migrations", type=int, default=16,
                       help="inactive migrations this system takes part in at once")
    serve.add_argument("--netns", metavar="NS", help="run inside network namespace NS")

    mover = _add(parts, "mover", "a mover service").add_subparsers(
        dest="action", required=True)
    serve = _add(mover, "serve", "run a mover service")
    serve.add_argument("--name", required=True, help="mover service name")
    serve.add_argument("--control", required=True, help="HOST:PORT of the control API")
    serve.add_argument("--data", required=True, help="HOST:PORT the stream arrives on")
    serve.add_argument("--advertise", metavar="HOST:PORT",
                       help="the data address peer movers connect to, when it is not --data "
                            "(behind NAT or a relay); default: --data")
    serve.add_argument("--state-dir", type=Path, required=True,
                       help="the mover's keys, certificates and enrollment code, its "
                            "channels' sockets, and local.sock, where its agent asks it")
    serve.add_argument("--incoming-dir", type=Path, required=True, metavar="DIR",
                       help="the agent's runtime directory of partitions (its "
                            "STATE_DIR/run): a stream arriving for partition P goes to "
                            "DIR/P/incoming.sock")
    serve.add_argument("--insecure", action="store_true",
                       help="serve the control API as plain HTTP to anyone who reaches "
                            "--control: only for a host whose network nobody else reaches")
    serve.add_argument("--max-migrations", type=int, default=8,
                       help="migrations this mover carries at once (VIOS cfg_msp_lpm_ops)")
    serve.add_argument("--netns", metavar="NS", help="run inside network namespace NS")
    enroll = _add(mover, "enroll", "issue a system's mover services certificates from this "
                  "console's authority (done when a system is added)")
    enroll.add_argument("-m", dest="system", required=True, help="managed system")

    san = _add(parts, "san", "the SAN: LUNs over NBD, mapped per WWPN or per host").add_subparsers(
        dest="action", required=True)
    serve = _add(san, "serve", "run a SAN service")
    serve.add_argument("--name", default="san", help="the SAN's name")
    serve.add_argument("--listen", required=True, help="HOST:PORT of the control API")
    serve.add_argument("--data", required=True, metavar="HOST",
                       help="the address LUN exports answer on (one port per LUN)")
    serve.add_argument("--first-port", type=int, default=10809,
                       help="the port of the first LUN's export")
    serve.add_argument("--state-dir", type=Path, required=True,
                       help="LUN images, mappings, the fabric's authority")
    serve.add_argument("--import-dir", type=Path, metavar="DIR",
                       help="where 'san mklun --source' takes images from; no other file "
                            "of this host is copied into a LUN (default: STATE_DIR/import)")
    serve.add_argument("--netns", metavar="NS", help="run inside network namespace NS")
    mklun = _add(san, "mklun", "create a LUN: empty, or a copy of an image file on the SAN "
                 "host")
    mklun.add_argument("-l", dest="lun", required=True, help="LUN name")
    mklun.add_argument("--size-mb", type=int, default=0, help="size; 0: the source's")
    mklun.add_argument("--source", metavar="FILE",
                       help="image file to copy, in the SAN's import directory (san serve "
                            "--import-dir)")
    rmlun = _add(san, "rmlun", "delete an unmapped LUN and its data")
    rmlun.add_argument("-l", dest="lun", required=True, help="LUN name")
    lslun = _add(san, "lslun", "list LUNs, their exports and mappings")
    lslun.add_argument("-F", metavar="ATTRIBUTES",
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

    sign_in = _add(parts, "login", "sign in to the console; the session's token is saved "
                   "(mode 0600) for the other commands")
    sign_in.add_argument("-u", dest="user", default="hscroot", help="user name")
    _add(parts, "logout", "end the session and forget its token")
    tokens = _add(parts, "token", "API tokens for scripts (they do not expire until "
                  "removed)").add_subparsers(dest="action", required=True)
    create = _add(tokens, "create", "make a token for the signed-in user; it is shown once")
    create.add_argument("--name", required=True, help="what the token is for")
    listed = _add(tokens, "list", "list the signed-in user's tokens (never their secret)")
    listed.add_argument("-F", metavar="ATTRIBUTES",
                        help="print only these attributes (id, name, user, created, "
                             "last_used)")
    listed.add_argument("--header", action="store_true", help="with -F, a header line")
    removed = _add(tokens, "rm", "remove a token: scripts using it are refused from now on")
    removed.add_argument("id", help="the token's id (token list)")

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
    evacuate.add_argument("-F", metavar="ATTRIBUTES",
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
    balance.add_argument("-F", metavar="ATTRIBUTES", help="print the moves as these "
                         "attributes (name, source, target, migration_id, reason)")
    balance.add_argument("--header", action="store_true", help="with -F, a header line")

    console = _add(parts, "console", "recent console output of a partition")
    console.add_argument("-m", dest="system", required=True, help="managed system")
    console.add_argument("-p", dest="partition", required=True, help="partition name")
    console.add_argument("--lines", type=int, default=20)
    console.add_argument("--stamps", action="store_true", help="show receive time and system")

    demo = _add(parts, "demo", "lab up, migrate a running partition, prove it, "
                            "lab down")
    demo.add_argument("--memory-mb", type=int, default=512, help="partition memory, MB")
    demo.add_argument("--fill-mb", type=int, default=200,
                      help="MiB of random data the workload keeps in memory")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler = SERVICES.get((args.part, getattr(args, "action", "")))
    if handler is not None:
        from openlpm.private import restrict_umask

        # What a service and its children (QEMU, the SAN's exports) make is theirs only.
        restrict_umask()
        # A service that cannot start says why as every command does (its files, keys).
        try:
            handler(args)
        except OpenLpmError as exc:
            return report_error(exc)
        return 0
    return run_command(lambda: _dispatch(args))


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
    elif args.part == "image":
        from openlpm.lab.image import build_image

        image = await asyncio.to_thread(build_image, args.out or site.IMAGE_DIR)
        print(f"kernel={image.kernel}\ninitrd={image.initrd}")
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
    elif args.part == "demo":
        from openlpm.lab.demo import run_demo

        await run_demo(fill_mb=args.fill_mb, memory_mb=args.memory_mb)
    else:
        raise RequestInvalid(f"Unknown command {args.part}.")
    return None


async def _console(args: argparse.Namespace) -> None:
    async with HmcClient(hmc_url()) as hmc:
        for line in await hmc.console(args.system, args.partition, args.lines):
            if args.stamps:
                print(f"{line.t:.3f} {line.system:>8} {line.text}")
            else:
                print(line.text)


def _hmc_serve(args: argparse.Namespace) -> None:
    from openlpm.hmc.http.app import create_app
    from openlpm.hmc.site.identity import ConsoleIdentity
    from openlpm.service import bind, enter_netns, serve

    listeners = [bind(args.listen)]
    if args.reach_netns:
        enter_netns(args.reach_netns)
    if args.peer_listen:
        listeners.append(bind(args.peer_listen))
    first_admin = ((args.admin_user, args.admin_password_file.read_text().splitlines()[0])
                   if args.admin_password_file else None)
    identity = None
    if args.tls_dir:
        hosts = [a.rpartition(":")[0] for a in (args.listen, args.peer_listen) if a]
        identity = ConsoleIdentity(args.tls_dir, args.name, tuple(hosts))
    serve(create_app(args.db, name=args.name, first_admin=first_admin,
                     san_url=args.san_url, san_key=_san_key(args)), *listeners,
          tls=identity.server_context() if identity else None)


def _san_key(args: argparse.Namespace) -> str | None:
    from openlpm.san.keys import read_key

    return read_key(args.san_key_file) if args.san_key_file else None


def _agent_serve(args: argparse.Namespace) -> None:
    from openlpm.agent.api import MigrationLimits, create_app
    from openlpm.agent.partitions import Capacity, PartitionManager
    from openlpm.agent.qemu import BootImage, QemuSettings
    from openlpm.net.switch import VirtualSwitch
    from openlpm.service import bind, enter_netns, serve
    from openlpm.trust import ServiceTrust

    if args.netns:
        enter_netns(args.netns)
    settings = QemuSettings(binary=args.qemu, accel=args.accel,
                            boot=BootImage(args.kernel, args.initrd, args.kernel_args))
    switch = VirtualSwitch(args.uplink, args.vlans) if args.vlans is not None else None
    manager = PartitionManager(args.name, args.state_dir,
                               Capacity(args.cpus, args.memory_mb), settings, args.san_url,
                               switch, args.io_services, _san_key(args),
                               tuple(args.allow_dirs or ()))
    limits = MigrationLimits(args.max_active_migrations, args.max_inactive_migrations)
    trust = None if args.insecure else ServiceTrust(
        args.name, f"Managed system {args.name}", args.tls_dir or args.state_dir / "tls",
        "agent")
    serve(create_app(manager, args.accel, _qemu_version(args.qemu), args.mover_socket,
                     limits, trust), bind(args.listen), tls=trust.context if trust else None)


def _mover_serve(args: argparse.Namespace) -> None:
    from openlpm.model import MoverInfo
    from openlpm.mover.api import MoverSetup, create_app
    from openlpm.service import bind, enter_netns, serve
    from openlpm.trust import ServiceTrust

    if args.netns:
        enter_netns(args.netns)
    trust = None if args.insecure else ServiceTrust(
        args.name, f"Mover service {args.name}", args.state_dir / "control", "mover")
    info = MoverInfo(name=args.name,
                     control_url=f"{'http' if args.insecure else 'https'}://{args.control}",
                     data_address=args.advertise or args.data, version=__version__,
                     max_migrations=args.max_migrations)
    setup = MoverSetup(info, args.state_dir, args.data, args.incoming_dir, trust)
    serve(create_app(setup), bind(args.control), tls=trust.context if trust else None)


def _san_serve(args: argparse.Namespace) -> None:
    from openlpm.san.api import create_app
    from openlpm.san.keys import SanKeys
    from openlpm.san.luns import San
    from openlpm.service import bind, enter_netns, serve

    if args.netns:
        enter_netns(args.netns)
    serve(create_app(San(args.name, args.state_dir, args.data, args.first_port,
                         args.import_dir),
                     SanKeys(args.state_dir / "keys")), bind(args.listen))


def _vlan_list(text: str) -> tuple[int, ...]:
    try:
        vlans = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of VLAN ids") from None
    if not all(1 <= v <= 4094 for v in vlans):
        raise argparse.ArgumentTypeError("a VLAN id is from 1 to 4094")
    return vlans


def _qemu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split("\n", 1)[0].removeprefix("QEMU emulator version ").strip()


SERVICES = {("hmc", "serve"): _hmc_serve, ("agent", "serve"): _agent_serve,
            ("mover", "serve"): _mover_serve, ("san", "serve"): _san_serve}

if __name__ == "__main__":
    sys.exit(main())
