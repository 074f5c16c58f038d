"""A test site where hosts share nothing but the network, for tests/integration/test_site.py.

Each host (the console, the SAN, each managed system) is a network namespace on a switch
of its own, as the lab makes them, and every process of it runs in a mount namespace of
its own where the host's directory under SITE_ROOT/openlpm-site-PREFIX/HOST provides
/etc/openlpm, /var/lib/openlpm, /run/openlpm, /var/log/openlpm, /etc/systemd/system,
/opt/openlpm and /root; then the site's directory, /var/cache/openlpm (the lab's images
and the wheelhouse) and the checkout are hidden under empty tmpfs mounts, and so is the
lab's /run/openlpm/labs, which the host's own /run/openlpm covers. openlpm is installed
into each host's /opt/openlpm from a wheel built from the checkout's HEAD, and its
services run from their systemd units (supervisor.py stands in for systemd).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import netns

from openlpm.lab import network
from openlpm.lab.network import Node
from openlpm.processes import runs_with

CHECKOUT = Path(__file__).resolve().parents[2]
SITE_ROOT = Path("/var/tmp")
SITE_PREFIX = "s"
WHEELHOUSE_ROOT = Path("/var/cache/openlpm/wheels")
SUPERVISOR = Path(__file__).with_name("supervisor.py")
# A host's directories, each where the host sees it.
MOUNTS = {"etc": "/etc/openlpm", "lib": "/var/lib/openlpm", "run": "/run/openlpm",
          "log": "/var/log/openlpm", "systemd": "/etc/systemd/system",
          "opt": "/opt/openlpm", "home": "/root"}
HIDDEN = ("/var/cache/openlpm", str(CHECKOUT))
# The mount points this run made on the test machine (none existed before it).
MADE_MOUNTPOINTS: list[Path] = []
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INSTALL_TIMEOUT_S = 300


def site_dir(prefix: str) -> Path:
    return SITE_ROOT / f"openlpm-site-{prefix}"


@dataclass(frozen=True)
class Host:
    """One host of the site: its network node and its private directories."""

    prefix: str
    name: str
    node: Node

    @property
    def root(self) -> Path:
        return site_dir(self.prefix) / self.name

    def path(self, inside: str) -> Path:
        """Where a path the host sees (under one of MOUNTS) is on the test machine."""
        for directory, mountpoint in MOUNTS.items():
            if inside == mountpoint or inside.startswith(mountpoint + "/"):
                return self.root / directory / inside[len(mountpoint):].lstrip("/")
        raise ValueError(f"{inside} is not private to host {self.name}")

    def make(self) -> None:
        for directory, mountpoint in MOUNTS.items():
            (self.root / directory).mkdir(parents=True, exist_ok=True)
            # The mount point, empty on the test machine (as after a real install);
            # one this run made is removed with the last site.
            if not Path(mountpoint).exists():
                Path(mountpoint).mkdir(parents=True)
                MADE_MOUNTPOINTS.append(Path(mountpoint))
        (self.root / "etc").chmod(0o700)

    def command(self, argv: Iterable[str], env: dict[str, str] | None = None,
                hide: bool = True) -> list[str]:
        """``argv`` as run in this host: its network namespace, its mount namespace,
        the environment a service or an administrator's shell has (and ``env``)."""
        script = ["set -e"]
        for directory, mountpoint in MOUNTS.items():
            script.append(f"mount --bind {shlex.quote(str(self.root / directory))} "
                          f"{shlex.quote(mountpoint)}")
        if hide:
            for hidden in (str(site_dir(self.prefix)), *HIDDEN):
                script.append(f"if [ -d {shlex.quote(hidden)} ]; then mount -t tmpfs "
                              f"-o size=1m,mode=0755 hidden {shlex.quote(hidden)}; fi")
        variables = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        script += ["cd /", "exec env -i " + " ".join(
            shlex.quote(f"{k}={v}") for k, v in variables.items()) + ' "$@"']
        return ["ip", "netns", "exec", self.node.namespace, "unshare", "--mount",
                "--propagation", "private", "sh", "-c", "\n".join(script), "sh", *argv]

    def run(self, *argv: str, env: dict[str, str] | None = None, stdin: str = "",
            check: bool = True, timeout: float = 300,
            hide: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.command(argv, env, hide), input=stdin, text=True,
                              capture_output=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"on {self.name}: {shlex.join(argv)} exited "
                                 f"{done.returncode}:\n{done.stdout}{done.stderr}")
        return done

    def write(self, inside: str, text: str, mode: int = 0o600) -> None:
        """A file the host's administrator writes (0600 unless ``mode``)."""
        path = self.path(inside)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=mode)
        path.chmod(mode)
        path.write_text(text)

    def read(self, inside: str) -> str:
        """A file of the host, as its administrator would ``ssh HOST cat`` it."""
        return self.path(inside).read_text()

    def install(self, wheelhouse: Path, wheels: Path) -> subprocess.Popen[str]:
        """Start installing openlpm into the host's /opt/openlpm from the wheels, as an
        administrator would; the venv is made where the host sees it, so its scripts
        name /opt/openlpm."""
        script = ("python3 -m venv /opt/openlpm && /opt/openlpm/bin/pip install -q "
                  f"--no-compile --no-index --find-links {shlex.quote(str(wheelhouse))} "
                  f"--find-links {shlex.quote(str(wheels))} openlpm")
        return subprocess.Popen(
            self.command(["sh", "-c", script], {"PIP_CONFIG_FILE": os.devnull}, hide=False),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def supervise(self, units: list[str]) -> subprocess.Popen[bytes]:
        """Run the host's units under the supervisor (systemd's stand-in); its output,
        the host's journal, goes to journal_path."""
        with self.journal_path.open("ab") as journal:
            return subprocess.Popen(
                self.command(["python3", "-c", SUPERVISOR.read_text(), *units]),
                stdin=subprocess.DEVNULL, stdout=journal, stderr=subprocess.STDOUT)

    @property
    def journal_path(self) -> Path:
        return site_dir(self.prefix) / f"{self.name}.journal"

    def main_pids(self, unit: str) -> list[int]:
        """The main pids the supervisor started ``unit`` with, in order."""
        marker = f"supervisor: {unit} started pid "
        return [int(line[len(marker):].split(":")[0])
                for line in self.journal_path.read_text(errors="replace").splitlines()
                if line.startswith(marker)]

    def pids(self) -> list[int]:
        """Every process in the host's network namespace."""
        listed = subprocess.run(["ip", "netns", "pids", self.node.namespace],
                                capture_output=True, text=True, check=False).stdout
        return [int(pid) for pid in listed.split()]

    def owns(self, pid: int) -> bool:
        """True if process ``pid`` runs in this host's network namespace."""
        try:
            return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(
                f"/run/netns/{self.node.namespace}").st_ino
        except OSError:
            return False


def prepare_wheels(out: Path, commit: str = "HEAD") -> tuple[Path, Path]:
    """(the dependency wheelhouse, a directory with openlpm's wheel built from
    ``commit``, HEAD unless told: an older release's commit for a host that runs it).

    The wheelhouse is cached under WHEELHOUSE_ROOT, keyed by the pyproject's
    dependencies (releases with the same dependencies share it), and made with the
    checkout's pip once; the wheel is built from what is committed (others' edits in
    progress are not in it), or, for HEAD with OPENLPM_SITE_SOURCE=worktree, from the
    working tree's files as they are now.
    """
    out = out if commit == "HEAD" else out / commit
    source = out / "source"
    source.mkdir(parents=True)
    if commit == "HEAD" and os.environ.get("OPENLPM_SITE_SOURCE") == "worktree":
        listed = subprocess.run(["git", "-C", str(CHECKOUT), "ls-files", "-z", "-co",
                                 "--exclude-standard"], capture_output=True, check=True)
        for name in filter(None, listed.stdout.decode().split("\0")):
            if (CHECKOUT / name).is_file():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(CHECKOUT / name, source / name)
    else:
        archive = subprocess.run(["git", "-C", str(CHECKOUT), "archive", commit],
                                 capture_output=True, check=True).stdout
        (out / "source.tar").write_bytes(archive)
        with tarfile.open(out / "source.tar") as tar:
            tar.extractall(source, filter="data")
    wheels = out / "wheels"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)],
                   check=True, capture_output=True)
    dependencies = sorted(tomllib.loads((source / "pyproject.toml").read_text())
                          ["project"]["dependencies"])
    key = hashlib.sha256("\n".join(dependencies).encode()).hexdigest()[:16]
    wheelhouse = WHEELHOUSE_ROOT / key
    if not wheelhouse.exists():
        partial = WHEELHOUSE_ROOT / f"{key}.{os.getpid()}"
        subprocess.run([*pip, "wheel", "-w", str(partial), *dependencies], check=True,
                       capture_output=True)
        with contextlib.suppress(OSError):
            partial.rename(wheelhouse)
        shutil.rmtree(partial, ignore_errors=True)
    return wheelhouse, wheels


def install_all(hosts: list[Host], wheelhouse: Path, wheels: Path,
                wheels_of: dict[str, Path] | None = None) -> None:
    """Install openlpm on every host at once, from ``wheels`` or, for a host that
    ``wheels_of`` names, from the wheel it gives (another release's)."""
    installs = [(host, host.install(wheelhouse, (wheels_of or {}).get(host.name, wheels)))
                for host in hosts]
    for host, install in installs:
        out, _ = install.communicate(timeout=INSTALL_TIMEOUT_S)
        assert install.returncode == 0, f"installing openlpm on {host.name} failed:\n{out}"


def end_host(host: Host, supervisor: subprocess.Popen[bytes] | None) -> None:
    """Stop the host's units (SIGTERM to its supervisor, which stops them as their
    KillMode says), then end what they left running: the partitions' QEMUs and the
    LUN exports by their pidfiles, then anything else still in the host's namespace."""
    if supervisor is not None:
        supervisor.terminate()
        try:
            supervisor.wait(60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            supervisor.wait()
    pidfiles = [*host.root.glob("lib/agent/run/*/qemu.pid"),
                *host.root.glob("lib/san/exports/*.pid")]
    pids: list[int] = []
    for pidfile in pidfiles:
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(pidfile.read_text().strip()))
    _end([pid for pid in pids if host.owns(pid) and runs_with(pid, b"/var/lib/openlpm/")]
         + host.pids(), host)


def _end(pids: list[int], host: Host) -> None:
    """SIGTERM, then after 5 s SIGKILL, to processes while they are in the host."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        living = [pid for pid in dict.fromkeys(pids) if host.owns(pid)]
        for pid in living:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while any(host.owns(pid) for pid in living) and time.monotonic() < deadline:
            time.sleep(0.1)


def remove_site(prefix: str, hosts: list[Host]) -> None:
    for host in hosts:
        _end(host.pids(), host)
    network.remove_namespaces(prefix)
    shutil.rmtree(site_dir(prefix), ignore_errors=True)
    # Another run's site may still bind them in its hosts.
    if not any(SITE_ROOT.glob("openlpm-site-*")):
        for mountpoint in reversed(MADE_MOUNTPOINTS):
            with contextlib.suppress(OSError):
                mountpoint.rmdir()
        MADE_MOUNTPOINTS.clear()


def stale_sites() -> Iterator[str]:
    """Prefixes of sites left by a test run that was killed (its pid is gone)."""
    for directory in SITE_ROOT.glob(f"openlpm-site-{SITE_PREFIX}*"):
        prefix = directory.name.removeprefix("openlpm-site-")
        pid = prefix.removeprefix(SITE_PREFIX)
        if not (pid.isdigit() and Path(f"/proc/{pid}").exists()):
            yield prefix


def remove_stale_sites() -> None:
    for prefix in stale_sites():
        hosts = [Host(prefix, name.removeprefix(f"{prefix}-"), Node(name, "", ""))
                 for name in _namespaces(prefix)]
        remove_site(prefix, hosts)


def _namespaces(prefix: str) -> list[str]:
    return [name for name in netns.listnetns() if name.startswith(f"{prefix}-")]
