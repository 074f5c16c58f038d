"""One partition's QEMU process, driven over QMP.

QEMU is started with ``-daemonize`` so that it returns only once its QMP and console
sockets exist and so that a partition outlives a restart of its agent (the agent is a
manager, not the partition's parent). The process is identified by its pidfile and
checked against its command line before any signal is sent, so a recycled pid is never
hit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from qemu.qmp import EventListener, QMPClient
from qemu.qmp.error import QMPError
from qemu.qmp.message import Message

from openlpm.clients.guest_agent import (
    HOOK_TIMEOUT_S,
    MOBILITY_HOOK,
    GuestAgent,
    GuestAgentAbsent,
    GuestCommandFailed,
    from_guest,
)
from openlpm.errors import QEMU_NOT_ANSWERING, HypervisorError, WrongState
from openlpm.model import (
    Compression,
    Firmware,
    GuestVerdict,
    MigrationProgress,
    PartitionProfile,
    StreamOptions,
    StreamStatus,
)
from openlpm.private import create_private, private_directory, write_private
from openlpm.processes import runs_with, terminate, wait_exit

log = logging.getLogger("openlpm.agent.qemu")

# Statuses of query-migrate after which the stream is over, one way or the other.

# How long the guest's mobility hook may take to answer before it counts as absent.
GUEST_ANSWER_TIMEOUT_S = 1.5
# A daemonized QEMU has its monitor up before it returns: one silent this long is hung.
QMP_CONNECT_TIMEOUT_S = 10.0
# A QMP command is answered in milliseconds, even during a switch-over (QEMU then holds
# its lock for the downtime limit, at most seconds): a QEMU silent this long is stopped
# (SIGSTOP) or hung, and waiting on would hang the agent's call with it.
QMP_ANSWER_TIMEOUT_S = 10.0
# How long a runtime question (recovery, the console's diagnosis of a stalled stream)
# waits for QEMU's answer before it reports the QEMU as not answering.
QMP_PROBE_TIMEOUT_S = 5.0
# A QEMU asked to quit answers at once; one that does not is ended by signal instead.
QUIT_TIMEOUT_S = 3.0
# QEMU caps a migration at 128 MiB/s unless told otherwise; the stream should run as fast
# as the link allows (1 TiB/s is "no cap" while staying within QEMU's accepted range).
STREAM_BANDWIDTH = 1 << 40


@dataclass(frozen=True)
class BootImage:
    kernel: Path
    initrd: Path
    kernel_args: str


@dataclass(frozen=True)
class UefiFirmware:
    """OVMF: its code (shared, read-only) and the template of a partition's variables."""

    code: Path = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
    vars_template: Path = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


@dataclass(frozen=True)
class QemuSettings:
    binary: str
    accel: str
    # None on a system whose partitions all boot their own disk by firmware.
    boot: BootImage | None
    uefi: UefiFirmware = UefiFirmware()


class QemuPartition:
    """A partition's QEMU: start (normally or to receive a migration), control, stop."""

    def __init__(self, name: str, run_dir: Path, settings: QemuSettings) -> None:
        self.name = name
        self.run_dir = run_dir
        self.settings = settings
        self._qmp: QMPClient | None = None
        self._events_task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._migration_status = StreamStatus.NONE
        # When QEMU last paused the guest (its STOP event's time); None while it runs.
        self.paused_at: float | None = None
        # When QEMU last resumed the guest (its RESUME event's time): on a migration's
        # target, the end of the guest's pause.
        self.resumed_at: float | None = None

    @property
    def qmp_socket(self) -> Path:
        return self.run_dir / "qmp.sock"

    @property
    def incoming_socket(self) -> Path:
        return self.run_dir / "incoming.sock"

    @property
    def console_socket(self) -> Path:
        return self.run_dir / "console.sock"

    @property
    def console_log(self) -> Path:
        """Everything the partition wrote on its console, as QEMU logged it."""
        return self.run_dir / "console.raw"

    @property
    def mobility_socket(self) -> Path:
        return self.run_dir / "mobility.sock"

    @property
    def guest_agent_socket(self) -> Path:
        return self.run_dir / "qga.sock"

    @property
    def nvram(self) -> Path:
        """The partition's UEFI variables: written by its firmware, kept while it is
        shut down, and moved with it (a live migration carries the flash's contents,
        which QEMU writes back here once the partition runs on the target)."""
        return self.run_dir / "nvram.fd"

    @property
    def guest_agent(self) -> GuestAgent:
        return GuestAgent(self.guest_agent_socket, self.name)

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "qemu.pid"

    def command(self, profile: PartitionProfile, incoming: bool,
                devices: Sequence[str] = ()) -> list[str]:
        cmd = [
            self.settings.binary,
            # debug-threads names QEMU's threads (CPU 0/TCG, live_migration, ...) for
            # top -H and for the benches' per-thread CPU time.
            "-name", f"guest={profile.name},process=openlpm-{profile.name},debug-threads=on",
            "-machine", "q35", "-accel", self.settings.accel,
            "-cpu", profile.proc_compat_mode,
            "-smp", f"{profile.desired_procs},maxcpus={profile.max_procs}",
            "-m", f"{profile.desired_mem}M",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
            "-chardev", f"socket,id=console,path={self.console_socket},server=on,wait=off,"
                        f"logfile={self.console_log},logappend=on",
            "-serial", "chardev:console",
            # The guest's second serial port carries the "may you migrate?" exchange.
            "-chardev", f"socket,id=mobility,path={self.mobility_socket},server=on,wait=off",
            "-device", "isa-serial,chardev=mobility",
            *self.boot_arguments(profile),
            "-pidfile", str(self.pidfile), "-daemonize",
            *device_arguments(profile),
            *devices,
        ]
        if profile.uuid:
            # The partition's UUID (lssyscfg -F uuid) is its guest's SMBIOS system UUID.
            cmd += ["-uuid", profile.uuid]
        if incoming:
            cmd += ["-incoming", "defer"]
        return cmd

    def boot_arguments(self, profile: PartitionProfile) -> list[str]:
        """The system's kernel booted directly, or firmware that boots the partition's
        own disk (its boot LUNs carry a bootindex, see storage.py); such a partition runs
        its own operating system, which its agent reaches through the guest agent's
        port, and its kernel_args reach its guest tools through fw_cfg instead of a
        kernel command line."""
        if not profile.boots_by_firmware:
            boot = self.kernel(profile)
            return ["-kernel", str(boot.kernel), "-initrd", str(boot.initrd),
                    "-append", f"{boot.kernel_args} {profile.kernel_args}".strip()]
        args = [
            # The guest agent's port (qemu-guest-agent looks for this name).
            "-device", "virtio-serial-pci,id=guest-channels",
            "-chardev", f"socket,id=guest-agent,path={self.guest_agent_socket},server=on,"
                        f"wait=off",
            "-device", "virtserialport,bus=guest-channels.0,chardev=guest-agent,"
                       "name=org.qemu.guest_agent.0"]
        if profile.kernel_args:
            args += ["-fw_cfg",
                     f"name=opt/org.openlpm/args,string={_escape(profile.kernel_args)}"]
        if profile.firmware == Firmware.UEFI:
            uefi = self.settings.uefi
            args += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,"
                               f"file={_escape(str(uefi.code))}",
                     "-drive", f"if=pflash,format=raw,unit=1,file={_escape(str(self.nvram))}"]
        return args

    def kernel(self, profile: PartitionProfile) -> BootImage:
        """The system's kernel, which ``profile`` boots directly.

        Raises WrongState (HSCLF706) when the agent runs without one.
        """
        if self.settings.boot is None:
            raise WrongState(
                f"Partition {profile.name} boots the managed system's kernel (it has no "
                f"boot_device_slot), and this system's agent runs without --kernel and "
                f"--initrd. Give the agent a kernel (agent.toml: kernel, initrd, "
                f"kernel-args), or boot the partition from its own disk "
                f"(boot_device_slot).", code="HSCLF706")
        return self.settings.boot

    def ensure_nvram(self) -> None:
        """A partition's first UEFI start gets variables of its own, from OVMF's template.

        Raises HypervisorError when OVMF is not installed.
        """
        if self.nvram.exists():
            return
        template = self.settings.uefi.vars_template
        try:
            content = template.read_bytes()
        except OSError as exc:
            raise HypervisorError(
                f"Partition {self.name} boots by UEFI and {template} cannot be read "
                f"({exc.strerror}); install OVMF ('apt-get install ovmf').",
                code="HSCLF132") from exc
        private_directory(self.run_dir)
        write_private(self.nvram, content)

    async def start(self, profile: PartitionProfile, *, incoming: bool = False,
                    devices: Sequence[str] = ()) -> None:
        """Start QEMU; with ``incoming`` it waits for a migration stream instead of booting.
        ``devices`` are the arguments of its virtual devices (SAN disks, Ethernet).

        Raises WrongState (HSCLF706) when the partition boots the system's kernel and
        the system has none, HypervisorError when QEMU refuses the configuration or QMP
        does not answer.
        """
        if not profile.boots_by_firmware:
            self.kernel(profile)
        private_directory(self.run_dir)
        if profile.firmware == Firmware.UEFI:
            self.ensure_nvram()
        # A daemonized QEMU makes files 0640 (it sets umask 027): the guest's raw console
        # log is made here, its owner's only, and QEMU appends to it.
        create_private(self.console_log)
        for stale in (self.qmp_socket, self.console_socket, self.mobility_socket,
                      self.guest_agent_socket, self.pidfile):
            stale.unlink(missing_ok=True)
        proc = await asyncio.create_subprocess_exec(
            *self.command(profile, incoming, devices),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise HypervisorError(
                f"QEMU could not start partition {profile.name}: "
                f"{out.decode(errors='replace').strip()[-500:]}")
        try:
            await self.connect()
        except HypervisorError:
            # A QEMU nobody can drive must not run on, holding the partition's disks.
            if (pid := self.pid()) is not None:
                await terminate(pid, str(self.run_dir).encode())
            raise

    async def connect(self) -> None:
        """Attach to a running QEMU (after start, or after the agent restarted)."""
        qmp = QMPClient(self.name)
        listener = EventListener(("MIGRATION", "RESUME", "STOP", "SHUTDOWN"))
        qmp.register_listener(listener)
        try:
            async with asyncio.timeout(QMP_CONNECT_TIMEOUT_S):
                await qmp.connect(str(self.qmp_socket))
                await qmp.execute("migrate-set-capabilities", {
                    "capabilities": [{"capability": "events", "state": True}]})
        except (QMPError, OSError, TimeoutError) as exc:
            with contextlib.suppress(QMPError, OSError, EOFError):
                await qmp.disconnect()
            raise HypervisorError(f"QMP of partition {self.name} does not answer: "
                                  f"{exc!r}") from exc
        self._qmp = qmp
        self._events_task = asyncio.create_task(self._follow_events(listener))

    async def _follow_events(self, listener: EventListener) -> None:
        async for event in listener:
            if event["event"] == "MIGRATION":
                data = cast(dict[str, Any], event["data"])
                self._migration_status = StreamStatus(data["status"])
            elif event["event"] == "STOP":
                self.paused_at = event_time(event)
            elif event["event"] == "RESUME":
                self.paused_at = None
                self.resumed_at = event_time(event)
            async with self._changed:
                self._changed.notify_all()

    async def execute(self, command: str, arguments: dict[str, Any] | None = None,
                      timeout: float = QMP_ANSWER_TIMEOUT_S) -> Any:
        """Run one QMP command.

        Raises WrongState when no QEMU is attached, HypervisorError when QEMU fails the
        command or does not answer within ``timeout`` seconds (HSCLF135).
        """
        if self._qmp is None:
            raise WrongState(f"Partition {self.name} has no running QEMU.")
        try:
            async with asyncio.timeout(timeout):
                return await self._qmp.execute(command, arguments)
        except TimeoutError:
            raise HypervisorError(
                f"QEMU of partition {self.name} did not answer '{command}' within "
                f"{timeout:.0f} s: it is stopped or hung.", code=QEMU_NOT_ANSWERING) from None
        except (QMPError, OSError, EOFError) as exc:
            raise HypervisorError(
                f"QEMU of partition {self.name} failed '{command}': {exc}") from exc

    async def status(self, timeout: float = QMP_ANSWER_TIMEOUT_S) -> str:
        result = await self.execute("query-status", timeout=timeout)
        return str(result["status"])

    async def migration_status(self, timeout: float = QMP_ANSWER_TIMEOUT_S) -> StreamStatus:
        info = await self.execute("query-migrate", timeout=timeout)
        return StreamStatus(info.get("status", "none"))

    async def listen_incoming(self) -> str:
        """Wait for the stream on a socket only this host's mover service can reach."""
        uri = f"unix:{self.incoming_socket}"
        self.incoming_socket.unlink(missing_ok=True)
        await self.execute("migrate-incoming", {"uri": uri})
        return uri

    async def migrate(self, uri: str, options: StreamOptions) -> None:
        self._migration_status = StreamStatus.SETUP
        await self.set_stream_options(options)
        await self.execute("migrate-set-capabilities", {"capabilities": [
            {"capability": "auto-converge", "state": options.auto_converge}]})
        await self.set_downtime_limit(options.downtime_limit_ms)
        await self.execute("migrate-set-parameters", {"max-bandwidth": STREAM_BANDWIDTH})
        await self.execute("migrate", {"uri": uri})

    async def set_stream_options(self, options: StreamOptions) -> None:
        """What both QEMUs must agree on before the stream starts: post-copy, the number
        of streams (multifd) and their compression."""
        multifd = options.streams > 1 or options.compression != Compression.NONE
        await self.execute("migrate-set-capabilities", {"capabilities": [
            {"capability": "postcopy-ram", "state": options.postcopy},
            {"capability": "multifd", "state": multifd}]})
        if multifd:
            await self.execute("migrate-set-parameters", {
                "multifd-channels": options.streams,
                "multifd-compression": options.compression.value})

    async def set_downtime_limit(self, milliseconds: int) -> None:
        await self.execute("migrate-set-parameters", {"downtime-limit": milliseconds})

    async def start_postcopy(self) -> None:
        await self.execute("migrate-start-postcopy")

    async def cancel_migration(self) -> None:
        await self.execute("migrate_cancel")

    async def ask_guest_agent(self) -> GuestVerdict:
        """Ask the guest, through its guest agent, to run the openlpm guest side's
        mobility hook (``mobility check``): exit 0 is consent, anything else a veto
        whose first line is the reason.

        No guest agent, or one that cannot run the hook (not installed, or guest-exec
        blocked by the guest's policy), is ``answered=False``, as a guest without hooks.
        """
        agent = self.guest_agent
        try:
            os_version = await agent.os_version()
        except GuestAgentAbsent:
            return GuestVerdict(answered=False)
        except GuestCommandFailed:
            os_version = None
        try:
            done = await agent.run(MOBILITY_HOOK, "check")
        except (GuestAgentAbsent, GuestCommandFailed):
            return GuestVerdict(answered=False, os_version=os_version)
        except TimeoutError:
            return GuestVerdict(answered=True, os_version=os_version,
                                veto=f"its mobility hook did not end within "
                                     f"{HOOK_TIMEOUT_S:.0f} s")
        if done.exit_code == 0:
            return GuestVerdict(answered=True, os_version=os_version)
        first = (done.out.strip() or done.err.strip()).splitlines()
        reason = from_guest(first[0].removeprefix("veto")) if first else ""
        return GuestVerdict(answered=True, os_version=os_version,
                            veto=reason or f"its mobility hook exited with {done.exit_code}")

    async def ask_serial_hook(self) -> GuestVerdict:
        """Ask the lab image's mobility hook, on the second serial port, whether the
        guest may migrate now.

        A guest that does not answer within GUEST_ANSWER_TIMEOUT_S has no hook running;
        that is an answer too (``answered=False``), not an error.
        """
        nonce = secrets.token_hex(4)
        try:
            async with asyncio.timeout(GUEST_ANSWER_TIMEOUT_S):
                reader, writer = await asyncio.open_unix_connection(str(self.mobility_socket))
                try:
                    writer.write(f"check {nonce}\n".encode())
                    await writer.drain()
                    while True:
                        words = (await reader.readline()).decode(errors="replace").split()
                        if not words:
                            raise ConnectionResetError("the guest closed the port")
                        if len(words) >= 2 and words[1] == nonce:
                            break
                finally:
                    writer.close()
        except (OSError, TimeoutError):
            return GuestVerdict(answered=False)
        if words[0] == "ok":
            return GuestVerdict(answered=True)
        return GuestVerdict(answered=True, veto=" ".join(words[2:]) or "no reason given")

    async def announce(self) -> None:
        """Have the NICs announce their MAC from here so switches learn the new port."""
        await self.execute("announce-self", {
            "initial": 50, "max": 550, "rounds": 5, "step": 100})

    async def progress(self, wait: float = 0.0, known_status: str | None = None) -> \
            MigrationProgress:
        """Sample the outgoing migration, first waiting up to ``wait`` s for a status change."""
        if wait > 0 and known_status == self._migration_status:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
        info = await self.execute("query-migrate")
        # QEMU 7.2 reports "completed" a moment before it fills in total-time and
        # downtime, and no event marks that moment.
        async with asyncio.timeout(5.0):
            while info.get("status") == StreamStatus.COMPLETED and not info.get("total-time"):
                await asyncio.sleep(0.005)
                info = await self.execute("query-migrate")
        return to_progress(info).model_copy(update={"paused_at": self.paused_at})

    async def wait_running(self, timeout: float) -> None:
        """Wait until the guest runs (after an incoming migration).

        Raises HypervisorError when it does not within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    async with self._changed:
                        if await self.status() == "running":
                            return
                        await _wait_or(self._changed, 0.5)
        except TimeoutError:
            raise HypervisorError(
                f"Partition {self.name} did not start running within {timeout:.0f} s "
                f"(QEMU status {await self.status()}).", code="HSCLF131") from None

    async def resume_time(self, timeout: float = 1.0) -> float | None:
        """When QEMU resumed the guest; waits up to ``timeout`` s for the RESUME event,
        which the event task may read after the status that says the guest runs."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.resumed_at is not None)
        return self.resumed_at

    async def stop(self, *, graceful_timeout: float = 0.0) -> None:
        """End QEMU: ask the guest to power off first when a grace period is given."""
        pid = self.pid()
        if graceful_timeout > 0 and self._qmp is not None and pid is not None:
            with contextlib.suppress(HypervisorError):
                await self.execute("system_powerdown")
                await wait_exit(pid, graceful_timeout)
        marker = str(self.run_dir).encode()
        if self._qmp is not None and pid is not None and runs_with(pid, marker):
            with contextlib.suppress(HypervisorError):
                await self.execute("quit", timeout=QUIT_TIMEOUT_S)
        # A QEMU that did not quit (stopped, hung) is ended before its monitor is let go:
        # closing a connection it does not read could wait for it.
        if pid is not None:
            await terminate(pid, marker)
        await self.disconnect()
        for leftover in (self.qmp_socket, self.console_socket, self.mobility_socket,
                         self.guest_agent_socket, self.pidfile):
            leftover.unlink(missing_ok=True)

    async def disconnect(self) -> None:
        if self._events_task is not None:
            self._events_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._events_task
            self._events_task = None
        if self._qmp is not None:
            # QEMU closing QMP on "quit" surfaces here as EOFError.
            with contextlib.suppress(QMPError, OSError, EOFError):
                await self._qmp.disconnect()
            self._qmp = None

    def pid(self) -> int | None:
        return read_pid(self.pidfile, self.run_dir)


def device_arguments(profile: PartitionProfile) -> list[str]:
    """QEMU arguments for the partition's host-local devices (none of which can migrate).

    The profile's rules (model.py) already refuse a comma or control character in a path
    and anything but a PCI address in ``io_slots``; values are escaped all the same, so a
    value can never end its option and add another.
    """
    args: list[str] = []
    for i, path in enumerate(profile.disks):
        args += ["-drive", f"file={_escape(path)},if=none,id=disk{i},format=raw",
                 "-device", f"virtio-blk-pci,drive=disk{i}"]
    for i, _ in enumerate(profile.networks):
        args += ["-netdev", f"user,id=net{i}", "-device", f"virtio-net-pci,netdev=net{i},romfile="]
    for i, path in enumerate(profile.shares):
        args += ["-virtfs", f"local,path={_escape(path)},mount_tag=share{i},"
                            f"security_model=none,id=share{i}"]
    for address in profile.io_slots:
        args += ["-device", f"vfio-pci,host={_escape(address)}"]
    return args


def _escape(value: str) -> str:
    """QEMU's option syntax doubles a comma that belongs to a value."""
    return value.replace(",", ",,")


async def _wait_or(condition: asyncio.Condition, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(condition.wait(), timeout)


def event_time(event: Message) -> float:
    """When QEMU emitted an event: its host's clock, in seconds since the epoch."""
    stamp = cast(dict[str, int], event["timestamp"])
    return stamp["seconds"] + stamp["microseconds"] / 1e6


def to_progress(info: dict[str, Any]) -> MigrationProgress:
    ram = info.get("ram", {})
    return MigrationProgress(
        status=StreamStatus(info.get("status", "none")),
        transferred=int(ram.get("transferred", 0)),
        remaining=int(ram.get("remaining", 0)),
        total=int(ram.get("total", 0)),
        rate_bps=float(ram.get("mbps", 0.0)) * 1e6 / 8,
        passes=int(ram.get("dirty-sync-count", 0)),
        downtime_ms=info.get("downtime"),
        total_time_ms=info.get("total-time"),
        error=info.get("error-desc"),
        dirty_rate_pps=float(ram.get("dirty-pages-rate", 0.0)),
        throttle_pct=int(info.get("cpu-throttle-percentage", 0)),
    )


def read_pid(pidfile: Path, run_dir: Path) -> int | None:
    """The pid in ``pidfile`` if that process is a QEMU of ``run_dir``, else None."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if runs_with(pid, str(run_dir).encode()) else None
