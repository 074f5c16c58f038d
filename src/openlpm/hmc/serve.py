"""``openlpm hmc serve``: the console, as a service — its options and its start-up."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from openlpm.service import read_key_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:8480", help="HOST:PORT to answer on")
    parser.add_argument("--db", type=Path, default=Path("/var/lib/openlpm/hmc.db"),
                        help="inventory database (SQLite)")
    parser.add_argument("--name", default=socket.gethostname(),
                        help="this console's name, as --ip of migrlpar may give it")
    parser.add_argument("--admin-password-file", type=Path, metavar="FILE",
                        help="a file whose first line is the password of --admin-user, "
                             "made a super administrator unless that user exists (how a "
                             "new console gets its first user)")
    parser.add_argument("--admin-user", default="hscroot",
                        help="the first super administrator's name")
    parser.add_argument("--reach-netns", metavar="NS",
                        help="after binding, reach managed systems from network namespace NS")
    parser.add_argument("--tls-dir", type=Path, metavar="DIR",
                        help="answer over HTTPS with the console's own key and certificate, "
                             "kept in DIR (made at first start; clients pin console.crt)")
    parser.add_argument("--peer-listen", metavar="HOST:PORT",
                        help="also answer here, bound inside --reach-netns when given: "
                             "where other consoles reach this one (mkauthkeys --ip)")


def serve(args: argparse.Namespace) -> None:
    from openlpm.hmc.http.app import create_app
    from openlpm.hmc.site.identity import ConsoleIdentity
    from openlpm.service import bind, enter_netns, serve

    listeners = [bind(args.listen)]
    if args.reach_netns:
        enter_netns(args.reach_netns)
    if args.peer_listen:
        listeners.append(bind(args.peer_listen))
    first_admin = ((args.admin_user, read_key_file(args.admin_password_file))
                   if args.admin_password_file else None)
    identity = None
    if args.tls_dir:
        hosts = [a.rpartition(":")[0] for a in (args.listen, args.peer_listen) if a]
        identity = ConsoleIdentity(args.tls_dir, args.name, tuple(hosts))
    serve(create_app(args.db, name=args.name, first_admin=first_admin), *listeners,
          tls=identity.server_context() if identity else None)
