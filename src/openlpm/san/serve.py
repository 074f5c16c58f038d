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
    parser.add_argument("--insecure", action="store_true",
                        help="serve plain HTTP to anyone who reaches --listen, with no keys: "
                             "only for a host whose network nobody else reaches")
    parser.add_argument("--netns", metavar="NS", help="run inside network namespace NS")


def serve(args: argparse.Namespace) -> None:
    import ssl

    from openlpm.san.api import create_app
    from openlpm.san.keys import SanGuard
    from openlpm.san.luns import San
    from openlpm.service import bind, enter_netns, serve
    from openlpm.trust import ServiceTrust

    if args.netns:
        enter_netns(args.netns)
    san = San(args.name, args.state_dir, args.data, args.first_port, args.import_dir)
    if args.insecure:
        serve(create_app(san, None), bind(args.listen))
        return
    # The agents call with the hosts key and no certificate: the console's is asked
    # for, not required, and the guard decides by what TLS verified.
    trust = ServiceTrust(args.name, f"SAN {args.name}", args.state_dir / "tls", "san",
                         clients=ssl.CERT_OPTIONAL)
    serve(create_app(san, SanGuard(args.state_dir / "keys"), trust), bind(args.listen),
          tls=trust.context)
