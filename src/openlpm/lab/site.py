"""A whole site on one machine: ``openlpm lab up`` and ``openlpm lab down``.

Each managed system is a network namespace running its own agent and mover service;
the console runs in a namespace of its own on the lab network and answers on the host's
loopback (and, for other consoles, on its lab address). With ``remote_hmc`` a second
console manages the last system, for migrations across consoles. Everything the lab
starts is recorded in its ``lab.json`` as it starts, so ``down`` can end it by pid, even
after a failed ``up``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from openlpm import config
from openlpm.clients.credentials import save, token_for
from openlpm.clients.wire import decode, segment
from openlpm.errors import ObjectExists, RequestInvalid, SystemUnreachable
from openlpm.lab import network
from openlpm.lab.accel import probe_accelerator
from openlpm.lab.image import IMAGE_DIR as IMAGE_DIR
from openlpm.lab.image import KERNEL_ARGS, PartitionImage, build_image
from openlpm.lab.network import Node
from openlpm.paths import DEFAULT_HMC_FILE, RUN_ROOT
from openlpm.private import append_private, make_private, private_directory, write_private
from openlpm.processes import runs_with, terminate

AGENT_PORT, MOVER_CONTROL_PORT, MOVER_DATA_PORT = 8470, 8471, 8472
HMC_ADDRESS, REMOTE_HMC_ADDRESS, PEER_PORT = "198.18.0.2", "198.18.0.5", 8480
SAN_ADDRESS, SAN_PORT, SAN_FIRST_EXPORT_PORT = "198.18.0.3", 8490, 10809
CLIENT_ADDRESS = "198.18.0.4"
# The main console's SSH door: ssh hscroot@HMC_ADDRESS from the lab's client namespace.
SSH_PORT = 22
SAN_URL = f"https://{SAN_ADDRESS}:{SAN_PORT}"
READY_TIMEOUT_S = 60.0
ADMIN_USER = "hscroot"

Say = Callable[[str], None]


@dataclass(frozen=True)
class LabSpec:
    prefix: str = "olpm"
    systems: int = 2
    cpus: int = 8
    memory_mb: int = 8192
    accel: str = "auto"
    hmc_port: int = 8480
    make_default: bool = True
    partition_args: str = ""
    # Names as a real site has them; by default sys1, sys2, ... with mover sysN-msp1.
    names: tuple[str, ...] = ()
    mover_suffix: str = "-msp1"
    hmc_name: str = "hmc"
    max_active_migrations: int = 16
    # The VLANs every system's virtual switch bridges, and the client reaches; a system
    # named in vlans_of bridges only those.
    vlans: tuple[int, ...] = (10, 20, 30)
    vlans_of: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # The I/O services (paths to the SAN) of every system, and of those named here.
    io_services: int = 1
    io_services_of: dict[str, int] = field(default_factory=dict)
    # The name of a second console, which manages the last system ("" for none).
    remote_hmc: str = ""
    # Where partitions may have host-local disks and shares (agent serve --allow-dir):
    # nowhere unless a lab asks, as a real system.
    allow_dirs: tuple[str, ...] = ()

    def system_names(self) -> list[str]:
        return list(self.names) or [system_name(i) for i in range(1, self.systems + 1)]

    def consoles(self) -> list[str]:
        return [self.hmc_name, *([self.remote_hmc] if self.remote_hmc else [])]


@dataclass
class LabState:
    """What a lab made, as recorded in its lab.json."""

    prefix: str
    hmc_url: str = ""
    # The second console's URL (on loopback) and its name, when the lab has one.
    remote_hmc_url: str = ""
    remote_hmc: str = ""
    accel: str = ""
    systems: list[str] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    @staticmethod
    def directory(prefix: str) -> Path:
        return RUN_ROOT / "labs" / prefix

    @property
    def path(self) -> Path:
        return self.directory(self.prefix) / "lab.json"

    def save(self) -> None:
        private_directory(self.path.parent)
        write_private(self.path, json.dumps(self.__dict__, indent=1).encode())

    def running(self) -> bool:
        return any(runs_with(pid, service_marker(self.prefix)) for pid in self.pids.values())

    @classmethod
    def load(cls, prefix: str) -> LabState:
        try:
            return cls(**json.loads((cls.directory(prefix) / "lab.json").read_text()))
        except (OSError, ValueError):
            return cls(prefix=prefix)


def system_name(index: int) -> str:
    return f"sys{index}"


def admin_password_file(prefix: str, console: str = "") -> Path:
    """Where a lab keeps the password of its console's first user (hscroot, super
    administrator), mode 0600; ``console`` names the second console."""
    return LabState.directory(prefix) / ("admin-password" + (f"-{console}" if console
                                                              else ""))


def credentials_file(prefix: str) -> Path:
    """The lab's sign-in to its console ({url: token}, mode 0600), as 'openlpm login'
    writes it; the commands use it through $OPENLPM_CREDENTIALS or hmc.json."""
    return LabState.directory(prefix) / "credentials.json"


def client_env(state: LabState, url: str = "") -> dict[str, str]:
    """What a command run against this lab's console (or the one at ``url``) needs in
    its environment."""
    url = url or state.hmc_url
    return {"OPENLPM_HMC": url, "OPENLPM_HMC_CA": str(console_certificate(state, url)),
            "OPENLPM_CREDENTIALS": str(credentials_file(state.prefix))}


def console_certificate(state: LabState, url: str = "") -> Path:
    """The certificate the lab's console (or the one at ``url``) answers HTTPS with,
    which its clients pin."""
    remote = bool(url) and url == state.remote_hmc_url
    return console_tls_dir(state.prefix, state.remote_hmc if remote else "") / "console.crt"


def san_hosts_key_file(prefix: str) -> Path:
    """The lab SAN's hosts key (what the console hands its systems' agents), which the
    SAN makes at its first start in its STATE_DIR/keys."""
    return LabState.directory(prefix) / "san" / "keys" / "hosts.key"


def san_tls_dir(prefix: str) -> Path:
    """The lab SAN's TLS identity and, until the console connects it, enrollment code."""
    return LabState.directory(prefix) / "san" / "tls"


def console_tls_dir(prefix: str, console: str = "") -> Path:
    return LabState.directory(prefix) / (f"{console}-tls" if console else "hmc-tls")


def console_trust(state: LabState, url: str = "") -> ssl.SSLContext:
    return ssl.create_default_context(cafile=console_certificate(state, url))


def system_node(prefix: str, index: int, name: str | None = None) -> Node:
    """The lab host of the index-th system (from 1); its address follows from the index."""
    name = name or system_name(index)
    return Node(f"{prefix}-{name}", name, f"198.18.0.{10 + index}")


async def up(spec: LabSpec, say: Say = print) -> LabState:
    """Build the site; returns once the console sees every system ready to migrate."""
    _check(spec)
    names = spec.system_names()
    if LabState.load(spec.prefix).running():
        raise ObjectExists(f"Lab {spec.prefix} is already up. Use it, take it down with "
                           f"'openlpm lab down --prefix {spec.prefix}', or choose another "
                           f"--prefix.", code="HSCLF304")
    await down(spec.prefix, quiet=True)
    state = LabState(prefix=spec.prefix)
    workdir = state.directory(spec.prefix)
    # Its consoles' databases, keys and passwords, its partitions' disks and consoles.
    make_private(workdir)
    state.save()
    say("building the partition image")
    image = await asyncio.to_thread(build_image, IMAGE_DIR)
    state.accel = spec.accel if spec.accel != "auto" else await probe_accelerator(image)
    say(f"accelerator: {state.accel}")
    # pyroute2's synchronous API runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(network.create_switch, spec.prefix)
    hmc_node = Node(f"{spec.prefix}-hmc", "hmc", HMC_ADDRESS)
    await asyncio.to_thread(network.attach, spec.prefix, hmc_node)
    await asyncio.to_thread(network.attach_client, spec.prefix, Node(
        f"{spec.prefix}-client", "client", CLIENT_ADDRESS), spec.vlans)
    await _start_san(state, spec, workdir)
    for index, name in enumerate(names, start=1):
        node = system_node(spec.prefix, index, name)
        await asyncio.to_thread(network.attach, spec.prefix, node)
        _start_system(state, spec, node, image, workdir)
    state.hmc_url = _start_console(state, spec.hmc_name, hmc_node, spec.hmc_port, "hmc")
    state.save()
    await _sign_in(state, state.hmc_url, admin_password_file(spec.prefix))
    if spec.remote_hmc:
        await _start_remote_console(state, spec)
    await _register_systems(state, spec)
    if spec.make_default:
        DEFAULT_HMC_FILE.write_text(json.dumps({
            "url": state.hmc_url, "lab": spec.prefix, "ca": str(console_certificate(state)),
            "credentials": str(credentials_file(spec.prefix))}))
    say(_up_message(state, spec))
    return state


def _check(spec: LabSpec) -> None:
    """Raises RequestInvalid for a prefix, names or a suffix the lab cannot use."""
    if not (1 <= len(spec.prefix) <= 8 and spec.prefix.isalnum()):
        raise RequestInvalid("A lab prefix is 1 to 8 letters or digits.", code="HSCLF301")
    names = spec.system_names()
    if not (1 if not spec.remote_hmc else 2) <= len(names) <= 40:
        raise RequestInvalid("A lab has 1 to 40 managed systems, at least 2 with a second "
                             "console.", code="HSCLF302")
    everyone = [*names, *spec.consoles()]
    if len(set(everyone)) != len(everyone) or set(names) & {"sw", "hmc"} or not all(
            n.isalnum() and 1 <= len(n) <= 12 for n in everyone) or not re.fullmatch(
            r"[A-Za-z0-9_-]{0,12}", spec.mover_suffix):
        raise RequestInvalid("Lab system and console names are distinct, 1 to 12 letters "
                             "or digits, and no system is named sw or hmc (the lab's own "
                             "namespaces); a mover suffix is up to 12 letters, digits, _ "
                             "or -.", code="HSCLF305")


async def _start_san(state: LabState, spec: LabSpec, workdir: Path) -> None:
    """The SAN in its namespace; returns once it made its enrollment code."""
    san_node = Node(f"{spec.prefix}-san", "san", SAN_ADDRESS)
    await asyncio.to_thread(network.attach, spec.prefix, san_node)
    _start_service(state, "san", "san", {
        "netns": san_node.namespace, "name": f"{spec.prefix}san",
        "listen": f"{SAN_ADDRESS}:{SAN_PORT}", "data": SAN_ADDRESS,
        "first-port": SAN_FIRST_EXPORT_PORT, "state-dir": str(workdir / "san"),
        "import-dir": str(IMAGE_DIR)})
    await _written(san_tls_dir(spec.prefix) / "enrollment-code",
                   "the lab's SAN wrote no enrollment code")


async def _start_remote_console(state: LabState, spec: LabSpec) -> None:
    """The second console (--remote-hmc) in its namespace, signed in to."""
    remote_node = Node(f"{spec.prefix}-{spec.remote_hmc}", spec.remote_hmc,
                       REMOTE_HMC_ADDRESS)
    await asyncio.to_thread(network.attach, spec.prefix, remote_node)
    state.remote_hmc = spec.remote_hmc
    state.remote_hmc_url = _start_console(state, spec.remote_hmc, remote_node,
                                          free_port(), "remote-hmc")
    state.save()
    await _sign_in(state, state.remote_hmc_url,
                   admin_password_file(spec.prefix, spec.remote_hmc))


def _up_message(state: LabState, spec: LabSpec) -> str:
    """What lab up says at the end: where everything answers, and who is signed in."""
    remote = ""
    if spec.remote_hmc:
        remote = (f"; second HMC {spec.remote_hmc} at {state.remote_hmc_url} (to other "
                  f"consoles {REMOTE_HMC_ADDRESS}) manages {state.systems[-1]}")
    return (f"lab {spec.prefix} is up: HMC {spec.hmc_name} at {state.hmc_url} (to other "
            f"consoles {HMC_ADDRESS}), systems {', '.join(state.systems)}{remote}; signed "
            f"in as {ADMIN_USER} (super administrator, password in "
            f"{admin_password_file(spec.prefix)}); web console {state.hmc_url}/console/")


def _start_console(state: LabState, name: str, node: Node, port: int, role: str) -> str:
    """Start a console answering on loopback ``port`` and, for other consoles, on its lab
    address; returns its URL."""
    workdir = state.directory(state.prefix)
    console = "" if role == "hmc" else name
    password = admin_password_file(state.prefix, console)
    write_private(password, (secrets.token_urlsafe(12) + "\n").encode())
    # The main console's SSH door, for scripts in the lab's client namespace.
    options: dict[str, str | int | list[str]] = (
        {"ssh-listen": f"{node.address}:{SSH_PORT}"} if role == "hmc" else {})
    _start_service(state, role, "hmc", options | {
        "listen": f"127.0.0.1:{port}", "name": name, "reach-netns": node.namespace,
        "peer-listen": f"{node.address}:{PEER_PORT}",
        "tls-dir": str(console_tls_dir(state.prefix, console)),
        "db": str(workdir / (f"{console}.db" if console else "hmc.db")),
        "admin-password-file": str(password)})
    return f"https://127.0.0.1:{port}"


def _start_system(state: LabState, spec: LabSpec, node: Node, image: PartitionImage,
                  workdir: Path) -> None:
    name, address = node.port, node.address
    mover = f"{name}{spec.mover_suffix}"
    _start_service(state, f"{name}-mover", "mover", {
        "netns": node.namespace, "name": mover, "control": f"{address}:{MOVER_CONTROL_PORT}",
        "data": f"{address}:{MOVER_DATA_PORT}", "state-dir": str(workdir / mover),
        "incoming-dir": str(workdir / name / "run")})
    _start_service(state, f"{name}-agent", "agent", {
        "netns": node.namespace, "name": name, "listen": f"{address}:{AGENT_PORT}",
        "state-dir": str(workdir / name), "tls-dir": str(agent_tls_dir(workdir, name)),
        "cpus": spec.cpus, "memory-mb": spec.memory_mb, "accel": state.accel,
        "kernel": str(image.kernel), "initrd": str(image.initrd),
        "kernel-args": f"{KERNEL_ARGS} {spec.partition_args}".strip(),
        "mover-socket": str(workdir / mover / "local.sock"),
        "io-services": spec.io_services_of.get(name, spec.io_services),
        "vlans": ",".join(map(str, spec.vlans_of.get(name, spec.vlans))),
        "max-active-migrations": spec.max_active_migrations,
        "allow-dir": list(spec.allow_dirs)})
    state.systems.append(name)
    state.save()


async def restart(prefix: str, role: str) -> int:
    """End one service of a running lab and start it again as it was; returns its pid.

    For fault tests and for an operator who wants a service back after ending it.
    """
    state = LabState.load(prefix)
    if role not in state.commands:
        raise RequestInvalid(f"Lab {prefix} has no service {role}; it has: "
                             f"{', '.join(sorted(state.commands)) or 'none'}.",
                             code="HSCLF306")
    await _end(state.pids[role], prefix)
    _spawn(state, role, state.directory(prefix), state.commands[role])
    system = role.rpartition("-")[0]
    owner = state.remote_hmc_url if role == "remote-hmc" or (
        state.remote_hmc_url and system == state.systems[-1]) else state.hmc_url
    async with console_client(state, url=owner) as http:
        if role in ("hmc", "remote-hmc"):
            await _wait_ready(http, "/systems", "the lab's HMC")
        elif role == "san":
            await _wait_ready(http, "/san/luns", "the lab's SAN")
        else:
            await _wait_system_ready(http, system)
    return state.pids[role]


def _start_service(state: LabState, role: str, part: str,
                   options: dict[str, str | int | list[str]]) -> None:
    """Start a part as an installed site does: its options in a configuration file of
    its own (``etc/ROLE.toml`` in the lab's directory), the command line naming only it."""
    workdir = state.directory(state.prefix)
    path = workdir / "etc" / f"{role}.toml"
    private_directory(path.parent)
    write_private(path, config.render(options).encode())
    _spawn(state, role, workdir, [part, "serve", "--config", str(path)])


def _spawn(state: LabState, role: str, workdir: Path, args: list[str]) -> None:
    state.commands[role] = args
    logs = workdir / "logs"
    private_directory(logs)
    with append_private(logs / f"{role}.log") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "openlpm", *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    state.pids[role] = proc.pid
    state.save()


async def _console_trust(state: LabState, url: str) -> ssl.SSLContext:
    """Trust in a console that is starting: once it made its certificate."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not console_certificate(state, url).exists():
        if time.monotonic() > deadline:
            raise SystemUnreachable(f"the lab's HMC at {url} made no certificate within "
                                    f"{READY_TIMEOUT_S:.0f} s; see the logs under "
                                    f"{RUN_ROOT / 'labs'}.", code="HSCLF303")
        await asyncio.sleep(0.1)
    return console_trust(state, url)


async def _sign_in(state: LabState, url: str, password_file: Path) -> None:
    """Sign in as the console's first user once it answers; keep the session's token."""
    password = password_file.read_text().strip()
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with httpx.AsyncClient(base_url=url, timeout=10.0,
                                 verify=await _console_trust(state, url)) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                response = await http.post("/login", json={"user": ADMIN_USER,
                                                           "password": password})
                if response.is_success:
                    save(url, response.json()["token"], credentials_file(state.prefix))
                    return
            await asyncio.sleep(0.2)
    raise SystemUnreachable(f"the lab's HMC did not let {ADMIN_USER} sign in within "
                            f"{READY_TIMEOUT_S:.0f} s; see the logs under "
                            f"{RUN_ROOT / 'labs'}.", code="HSCLF303")


def console_client(state: LabState, timeout: float = 10.0, url: str = "") -> \
        httpx.AsyncClient:
    """An HTTP client of the lab's console (or the one at ``url``), signed in as its
    first user."""
    url = url or state.hmc_url
    return httpx.AsyncClient(base_url=url, timeout=timeout, verify=console_trust(state, url),
                             headers=console_headers(state, url))


def console_headers(state: LabState, url: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {console_token(state, url)}"}


def console_token(state: LabState, url: str = "") -> str | None:
    """The token the lab signed in with (as its console's first user)."""
    return token_for(url or state.hmc_url, credentials_file(state.prefix))


async def _register_systems(state: LabState, spec: LabSpec) -> None:
    """Each system to its console: the last to the second console when there is one;
    then the SAN to the first console, which gives it to its systems' agents (the second
    console has none: the SAN answers the console that enrolled it)."""
    owners = {name: state.hmc_url for name in state.systems}
    if state.remote_hmc_url:
        owners[state.systems[-1]] = state.remote_hmc_url
    for url in dict.fromkeys(owners.values()):
        async with console_client(state, url=url) as http:
            await _wait_ready(http, "/systems", f"the lab's HMC at {url}")
            mine = [(i, n) for i, n in enumerate(state.systems, start=1) if owners[n] == url]
            for index, name in mine:
                # As mksysconn does: the console learns the system's name from its agent.
                code = await _enrollment_code(state.directory(state.prefix), name)
                decode(await http.post("/sysconns", json={
                    "ip": system_node(spec.prefix, index, name).address,
                    "resource_type": "sys", "password": code, "port": AGENT_PORT}),
                    "the lab's HMC")
            for _, name in mine:
                await _wait_system_ready(http, name)
                # Adding a system enrolls the movers it has then; one that started later
                # than its agent is enrolled now.
                decode(await http.post(f"/systems/{segment(name)}/movers/enroll"),
                       "the lab's HMC")
    # Connecting enrolls the SAN and hands its hosts key to every system's agent.
    async with console_client(state, timeout=120.0) as http:
        await _connect_san(http, state.prefix)


async def _connect_san(http: httpx.AsyncClient, prefix: str) -> None:
    """The lab's SAN to its console, enrolled with the code the SAN wrote at its start."""
    code = await _written(san_tls_dir(prefix) / "enrollment-code",
                          "the lab's SAN wrote no enrollment code")
    decode(await http.post("/sysconns", json={
        "ip": SAN_ADDRESS, "resource_type": "san", "password": code, "port": SAN_PORT}),
        "the lab's HMC")
    await _wait_ready(http, "/san/luns", "the lab's SAN")


def agent_tls_dir(workdir: Path, system: str) -> Path:
    return workdir / system / "tls"


async def _enrollment_code(workdir: Path, system: str) -> str:
    """The one-time code the system's agent wrote at its first start."""
    return await _written(agent_tls_dir(workdir, system) / "enrollment-code",
                          f"managed system {system}'s agent wrote no enrollment code")


async def _written(path: Path, missing: str) -> str:
    """The content of a file a service of the lab writes as it starts, once it is there.

    Raises SystemUnreachable (``missing``, and where the logs are) after READY_TIMEOUT_S.
    """
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemUnreachable(f"{missing} within {READY_TIMEOUT_S:.0f} s; see the "
                                    f"logs under {RUN_ROOT / 'labs'}.", code="HSCLF303")
        await asyncio.sleep(0.1)
    return path.read_text().strip()


async def _wait_system_ready(http: httpx.AsyncClient, name: str) -> None:
    """Until the console sees the system's agent and its mover service."""
    await _wait_ready(http, f"/systems/{segment(name)}", f"managed system {name}",
                      lambda body: bool(body.get("info")
                                        and body["info"]["movers"]))  # type: ignore[index]


async def _wait_ready(http: httpx.AsyncClient, path: str, what: str,
                      ready: Callable[[dict[str, object]], bool] = lambda _: True) -> None:
    """Poll until ready: a process that is starting has no event to wait on."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            response = await http.get(path)
            if response.is_success and ready(response.json()):
                return
        await asyncio.sleep(0.2)
    raise SystemUnreachable(f"{what} did not become ready within {READY_TIMEOUT_S:.0f} s; "
                            f"see the logs under {RUN_ROOT / 'labs'}.", code="HSCLF303")


async def down(prefix: str, quiet: bool = False, say: Say = print) -> None:
    """End every process, namespace and file of the lab, whatever state it is in."""
    state = LabState.load(prefix)
    workdir = state.directory(prefix)
    for pid in state.pids.values():
        await _end(pid, prefix)
    # Partitions' QEMUs and the SAN's exports run on without the services that started
    # them; their pidfiles name them.
    pidfiles = [*workdir.glob("*/run/*/qemu.pid"), *workdir.glob("san/exports/*.pid")] \
        if workdir.exists() else []
    for pidfile in pidfiles:
        with contextlib.suppress(OSError, ValueError):
            await terminate(int(pidfile.read_text().strip()), str(workdir).encode())
    removed = await asyncio.to_thread(network.remove_namespaces, prefix)
    shutil.rmtree(workdir, ignore_errors=True)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(DEFAULT_HMC_FILE.read_text()).get("lab") == prefix:
            DEFAULT_HMC_FILE.unlink()
    if not quiet:
        say(f"lab {prefix} is down ({len(state.pids)} processes ended, "
            f"{len(removed)} namespaces removed)")


async def _end(pid: int, prefix: str) -> None:
    """End a process the lab started, and reap it if it is our child."""
    await terminate(pid, service_marker(prefix))
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def service_marker(prefix: str) -> bytes:
    """Every process the lab starts names its configuration file, in the lab's directory,
    in its arguments."""
    return f"\0{LabState.directory(prefix)}/etc/".encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
