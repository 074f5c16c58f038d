"""``openlpm san serve``: the SAN service — its options and its start-up."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="san", help="the SAN's name")
    parser.add_argument("--listen", required=True, help="HOST:PORT of the control API")
    parser.add_argument("--data", required=True, metavar="HOST",
                        help="the address LUN exports answer on (one port per LUN)")
    parser.add_argument("--first-port", type=int, default=10809,
                        help="the port of the first LUN's export")
    parser.add_argument("--state-dir", type=Path, required=True,
                        help="LUN images, mappings, the fabric's authority")
    parser.add_argument("--import-dir", type=Path, metavar="DIR",
                        help="where 'san mklun --source' takes images from; no other file "
                             "of this host is copied into a LUN (default: STATE_DIR/import)")
    parser.add_argument("--netns", metavar="NS", help="run inside network namespace NS")


def serve(args: argparse.Namespace) -> None:
    from openlpm.san.api import create_app
    from openlpm.san.keys import SanKeys
    from openlpm.san.luns import San
    from openlpm.service import bind, enter_netns, serve

    if args.netns:
        enter_netns(args.netns)
    serve(create_app(San(args.name, args.state_dir, args.data, args.first_port,
                         args.import_dir),
                     SanKeys(args.state_dir / "keys")), bind(args.listen))
