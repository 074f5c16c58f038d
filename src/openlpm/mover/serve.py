"""``openlpm mover serve``: a mover service — its options and its start-up."""

from __future__ import annotations

import argparse
from pathlib import Path

from openlpm import __version__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="mover service name")
    parser.add_argument("--control", required=True, help="HOST:PORT of the control API")
    parser.add_argument("--data", required=True, help="HOST:PORT the stream arrives on")
    parser.add_argument("--advertise", metavar="HOST:PORT",
                        help="the data address peer movers connect to, when it is not --data "
                             "(behind NAT or a relay); default: --data")
    parser.add_argument("--state-dir", type=Path, required=True,
                        help="the mover's keys, certificates and enrollment code, its "
                             "channels' sockets, and local.sock, where its agent asks it")
    parser.add_argument("--incoming-dir", type=Path, required=True, metavar="DIR",
                        help="the agent's runtime directory of partitions (its "
                             "STATE_DIR/run): a stream arriving for partition P goes to "
                             "DIR/P/incoming.sock")
    parser.add_argument("--insecure", action="store_true",
                        help="serve the control API as plain HTTP to anyone who reaches "
                             "--control: only for a host whose network nobody else reaches")
    parser.add_argument("--max-migrations", type=int, default=8,
                        help="migrations this mover carries at once (VIOS cfg_msp_lpm_ops)")
    parser.add_argument("--netns", metavar="NS", help="run inside network namespace NS")


def serve(args: argparse.Namespace) -> None:
    from openlpm.model import MoverInfo
    from openlpm.mover.api import MoverSetup, create_app
    from openlpm.private import make_private
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
    # Its keys, enrollment code and channels' sockets: the mover's own.
    make_private(args.state_dir)
    trust = None if args.insecure else ServiceTrust(
        args.name, f"Mover service {args.name}", args.state_dir / "control", "mover")
    info = MoverInfo(name=args.name,
                     control_url=f"{'http' if args.insecure else 'https'}://{args.control}",
                     data_address=args.advertise or args.data, version=__version__,
                     max_migrations=args.max_migrations)
    setup = MoverSetup(info, args.state_dir, args.data, args.incoming_dir, trust)
    serve(create_app(setup), bind(args.control), tls=trust.context if trust else None,
          keep_alive_s=CONSOLE_ONLY_KEEP_ALIVE_S if trust else KEEP_ALIVE_S)
