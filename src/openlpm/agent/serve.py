"""``openlpm agent serve``: a managed system's agent, as a service — its options and its
start-up."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from openlpm.errors import RequestInvalid
from openlpm.model import MAX_IO_SERVICES

if TYPE_CHECKING:
    from openlpm.agent.qemu import BootImage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="managed system name")
    parser.add_argument("--listen", required=True, help="HOST:PORT to answer on")
    parser.add_argument("--state-dir", type=Path, required=True,
                        help="profile store and runtime files")
    parser.add_argument("--cpus", type=int, required=True, help="processors partitions may use")
    parser.add_argument("--memory-mb", type=int, required=True,
                        help="memory partitions may use, in MB")
    parser.add_argument("--accel", choices=["kvm", "tcg"], required=True)
    parser.add_argument("--kernel", type=Path,
                        help="the kernel of partitions that boot it directly (those without "
                             "boot_device_slot); without it, only partitions booting their "
                             "own disk by firmware start here")
    parser.add_argument("--initrd", type=Path, help="with --kernel: its initramfs")
    parser.add_argument("--kernel-args", default="",
                        help="with --kernel: its command line, before each partition's "
                             "kernel_args")
    parser.add_argument("--mover-socket", type=Path, metavar="PATH",
                        help="the local socket of this system's mover service (its "
                             "STATE_DIR/local.sock)")
    parser.add_argument("--io-services", type=int, default=1, choices=range(1, MAX_IO_SERVICES + 1),
                        metavar="N", help="this system's I/O services (paths to the SAN, like "
                        "Virtual I/O Servers; 2 for redundant paths); the SAN knows "
                        "them as host:SYSTEM, host:SYSTEM:2, ...")
    parser.add_argument("--vlans", type=vlan_list, default=None, metavar="VID,...",
                        help="the VLANs this system's virtual switch bridges to the network "
                             "(VXLAN over --uplink); without it, no virtual Ethernet")
    parser.add_argument("--uplink", default="eth0", help="the interface the virtual switch "
                        "reaches the network through")
    parser.add_argument("--tls-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                        help="its key, certificates and one-time enrollment code (default: "
                             "STATE_DIR/tls); it serves over TLS, answering only the console "
                             "that enrolls this system, and nothing else until then")
    parser.add_argument("--insecure", action="store_true",
                        help="serve plain HTTP to anyone who reaches --listen: only for a "
                             "host whose network nobody else reaches")
    parser.add_argument("--allow-dir", type=Path, action="append", metavar="DIR",
                        dest="allow_dirs",
                        help="a directory whose files and subdirectories partitions may be "
                             "given as host-local disks and shares (repeatable); without "
                             "it, every host-local disk and share is refused")
    parser.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    parser.add_argument("--max-active-migrations", type=int, default=16,
                        help="active migrations this system takes part in at once")
    parser.add_argument("--max-inactive-migrations", type=int, default=16,
                        help="inactive migrations this system takes part in at once")
    parser.add_argument("--netns", metavar="NS", help="run inside network namespace NS")


def serve(args: argparse.Namespace) -> None:
    from openlpm.agent.api import MigrationLimits, create_app
    from openlpm.agent.partitions import Capacity, PartitionManager
    from openlpm.agent.qemu import QemuSettings
    from openlpm.net.switch import VirtualSwitch
    from openlpm.service import (
        CONSOLE_ONLY_KEEP_ALIVE_S,
        KEEP_ALIVE_S,
        bind,
        enter_netns,
        serve,
    )
    from openlpm.trust import ServiceTrust

    if args.netns:
        enter_netns(args.netns)
    settings = QemuSettings(binary=args.qemu, accel=args.accel,
                            boot=boot_image(args))
    switch = VirtualSwitch(args.uplink, args.vlans) if args.vlans is not None else None
    manager = PartitionManager(args.name, args.state_dir,
                               Capacity(args.cpus, args.memory_mb), settings, switch,
                               args.io_services, tuple(args.allow_dirs or ()))
    limits = MigrationLimits(args.max_active_migrations, args.max_inactive_migrations)
    trust = None if args.insecure else ServiceTrust(
        args.name, f"Managed system {args.name}",
        getattr(args, "tls_dir", None) or args.state_dir / "tls",
        "agent")
    serve(create_app(manager, args.accel, qemu_version(args.qemu), args.mover_socket,
                     limits, trust), bind(args.listen), tls=trust.context if trust else None,
          keep_alive_s=CONSOLE_ONLY_KEEP_ALIVE_S if trust else KEEP_ALIVE_S)


def boot_image(args: argparse.Namespace) -> BootImage | None:
    """The kernel partitions without a boot disk start with, if the system has one.

    Raises RequestInvalid (HSCLF707) when --kernel comes without --initrd or the other way.
    """
    from openlpm.agent.qemu import BootImage

    if args.kernel is None and args.initrd is None:
        return None
    if args.kernel is None or args.initrd is None:
        raise RequestInvalid(f"Managed system {args.name}: --kernel and --initrd go "
                             "together; give both, or neither when its partitions boot by "
                             "firmware.", code="HSCLF707")
    return BootImage(args.kernel, args.initrd, args.kernel_args)


def vlan_list(text: str) -> tuple[int, ...]:
    try:
        vlans = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of VLAN ids") from None
    if not all(1 <= v <= 4094 for v in vlans):
        raise argparse.ArgumentTypeError("a VLAN id is from 1 to 4094")
    return vlans


def qemu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split("\n", 1)[0].removeprefix("QEMU emulator version ").strip()
