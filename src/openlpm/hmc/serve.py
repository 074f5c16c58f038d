"""``openlpm hmc serve``: the console, as a service — its options and its start-up."""

from __future__ import annotations

import argparse
import socket
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from openlpm.service import read_key_file

if TYPE_CHECKING:
    from fastapi import FastAPI

    from openlpm.hmc.http.app import Service


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
    parser.add_argument("--ssh-listen", metavar="HOST:PORT",
                        help="also answer SSH here, bound inside --reach-netns when given: "
                             "the door where 'ssh USER@console CMD' runs the HMC commands "
                             "(docs/ssh.md)")
    parser.add_argument("--ssh-host-key", type=Path, metavar="FILE",
                        help="the door's ed25519 host key, made at first start if missing "
                             "(default: ssh_host_ed25519_key next to --db)")


def serve(args: argparse.Namespace) -> None:
    from openlpm.hmc.door.local_api import bind_unix, socket_path
    from openlpm.hmc.http.app import create_app
    from openlpm.hmc.site.identity import ConsoleIdentity
    from openlpm.service import bind, enter_netns, serve

    listeners = [bind(args.listen)]
    # The door's children reach the API by a path, from whatever namespace they are in.
    local = bind_unix(socket_path(args.db)) if args.ssh_listen else None
    if args.reach_netns:
        enter_netns(args.reach_netns)
    if args.peer_listen:
        listeners.append(bind(args.peer_listen))
    services = door_services(args, local, bind(args.ssh_listen)) if local else []
    first_admin = ((args.admin_user, read_key_file(args.admin_password_file))
                   if args.admin_password_file else None)
    identity = None
    if args.tls_dir:
        hosts = [a.rpartition(":")[0] for a in (args.listen, args.peer_listen) if a]
        identity = ConsoleIdentity(args.tls_dir, args.name, tuple(hosts))
    serve(create_app(args.db, name=args.name, first_admin=first_admin, services=services),
          *listeners,
          tls=identity.server_context() if identity else None)


def door_services(args: argparse.Namespace, local: socket.socket,
                  ssh: socket.socket) -> list[Service]:
    """The API on the local socket, then the SSH door: what the console runs along."""
    from openlpm.hmc.door.hostkey import default_path, host_key
    from openlpm.hmc.door.local_api import UNIX_PREFIX, serving, socket_path
    from openlpm.hmc.door.server import Door

    api = f"{UNIX_PREFIX}{socket_path(args.db)}"
    key = host_key(args.ssh_host_key or default_path(args.db))

    def door(app: FastAPI) -> AbstractAsyncContextManager[None]:
        return Door(app.state.console, ssh, key, api).running()

    return [lambda app: serving(app, local), door]
