"""Domain types shared by every part of openlpm.

They are pydantic models because they cross the wire between the console, the agents
and the movers; frozen so that a value read from an API cannot drift from what was sent.
This module imports no other part of openlpm (its state enumerations are
``states.py``'s).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# Re-exported: every part names them as model types.
from openlpm.states import Firmware as Firmware
from openlpm.states import MigrationKind as MigrationKind
from openlpm.states import MigrationState as MigrationState
from openlpm.states import MigrationStep as MigrationStep
from openlpm.states import PartitionState as PartitionState
from openlpm.states import Severity as Severity
from openlpm.states import name_uuid

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,46}$"
# The HMC's rule for profile names: up to 31 letters, digits, spaces and ,./;:~@#^-_=+{}
PROFILE_NAME_PATTERN = r"^[A-Za-z0-9 ,./;:~@#^\-_=+{}]{1,31}$"


class Frozen(BaseModel):
    # Schemas are built on first use: a CLI command needs few of them, and starts sooner.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Convergence(StrEnum):
    """How a migration makes a partition that dirties memory fast converge."""

    PRECOPY = "precopy"  # pre-copy, its downtime limit growing by steps
    AUTO_CONVERGE = "auto-converge"  # and QEMU throttles the guest's processors
    POSTCOPY = "postcopy"  # and, when pre-copy does not converge, post-copy (opt-in)


# query-migrate statuses once post-copy began: the guest runs on the target for good.
class StreamStatus(StrEnum):
    """QEMU's migration status (``query-migrate``, the ``MIGRATION`` event)."""

    NONE = "none"
    SETUP = "setup"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    ACTIVE = "active"
    POSTCOPY_ACTIVE = "postcopy-active"
    POSTCOPY_PAUSED = "postcopy-paused"
    POSTCOPY_RECOVER_SETUP = "postcopy-recover-setup"
    POSTCOPY_RECOVER = "postcopy-recover"
    COMPLETED = "completed"
    FAILED = "failed"
    COLO = "colo"
    PRE_SWITCHOVER = "pre-switchover"
    DEVICE = "device"
    WAIT_UNPLUG = "wait-unplug"

    @property
    def postcopy(self) -> bool:
        """The guest runs on the target and pulls its remaining pages from the source."""
        return self.value.startswith("postcopy-")

    @property
    def switching_over(self) -> bool:
        """The guest is paused for its last pages and devices (step 4b)."""
        return self in (StreamStatus.PRE_SWITCHOVER, StreamStatus.DEVICE)

    @property
    def final(self) -> bool:
        return self in (StreamStatus.COMPLETED, StreamStatus.FAILED, StreamStatus.CANCELLED)

    @property
    def cancellable(self) -> bool:
        """A stream under way that can still be cancelled (before post-copy)."""
        return self in (StreamStatus.SETUP, StreamStatus.ACTIVE, StreamStatus.PRE_SWITCHOVER,
                        StreamStatus.DEVICE, StreamStatus.WAIT_UNPLUG)


class BalanceGoal(StrEnum):
    """What ``openlpm balance`` evens out across systems."""

    CPU = "cpu"  # processor cores the partitions used over a window, per system processor
    MEMORY = "memory"  # memory given to running partitions, per system memory


class Compression(StrEnum):
    NONE = "none"
    ZSTD = "zstd"


class StreamOptions(Frozen):
    """What both QEMUs of a migration are told before its stream starts."""

    auto_converge: bool = False
    postcopy: bool = False
    downtime_limit_ms: int = Field(default=300, ge=1)
    # More than one stream uses QEMU's multifd: each is its own connection through the
    # movers, and its own thread copying pages on each side.
    streams: int = Field(default=1, ge=1, le=16)
    compression: Compression = Compression.NONE


class MigrationRound(Frozen):
    """One pass of pre-copy as QEMU reported it."""

    number: int
    dirty_rate_pps: float
    transferred: int
    remaining: int
    downtime_limit_ms: int
    throttle_pct: int = 0


WWPN_PATTERN = r"^[0-9a-f]{16}$"
LUN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,19}$"
# Who may reach a LUN: a virtual WWPN (NPIV), or a managed system's I/O service (vSCSI).
IDENTITY_PATTERN = r"^([0-9a-f]{16}|host:[A-Za-z0-9][A-Za-z0-9_.-]{0,46}(:[2-9])?)$"
# I/O services of a system, like a Power system's Virtual I/O Servers: each one a path
# from the system's partitions to the SAN, so two give them redundant paths.
MAX_IO_SERVICES = 9


def host_identity(system: str, io_service: int = 1) -> str:
    """How the SAN knows a managed system's I/O service (vSCSI mappings go to it): the
    first as ``host:SYSTEM``, the others ``host:SYSTEM:N``."""
    return f"host:{system}" if io_service == 1 else f"host:{system}:{io_service}"


class VirtualFcAdapter(Frozen):
    """NPIV: a virtual Fibre Channel adapter with its own pair of virtual WWPNs.

    The partition sees the LUNs mapped to the WWPN in use; a migration logs in on the
    target with the other WWPN of the pair and then removes the first one's access.
    """

    slot: int = Field(ge=2, le=1023)
    wwpns: tuple[str, str]
    wwpn_in_use: int = Field(default=0, ge=0, le=1)
    # The I/O service of the partition's system that hosts the adapter.
    io_service: int = Field(default=1, ge=1, le=MAX_IO_SERVICES)

    @model_validator(mode="after")
    def _pair(self) -> VirtualFcAdapter:
        if not all(re.fullmatch(WWPN_PATTERN, w) for w in self.wwpns):
            raise ValueError("a WWPN is 16 lowercase hexadecimal digits")
        if self.wwpns[0] == self.wwpns[1]:
            raise ValueError("the two WWPNs of a virtual FC adapter differ")
        return self

    @property
    def active_wwpn(self) -> str:
        return self.wwpns[self.wwpn_in_use]

    @property
    def standby_wwpn(self) -> str:
        return self.wwpns[1 - self.wwpn_in_use]


class VirtualScsiAdapter(Frozen):
    """vSCSI: LUNs the SAN maps to the system's I/O service, which maps them to the
    partition; every system the partition may move to needs the same LUNs mapped."""

    slot: int = Field(ge=2, le=1023)
    luns: tuple[str, ...] = Field(min_length=1)
    io_service: int = Field(default=1, ge=1, le=MAX_IO_SERVICES)


AdapterT = TypeVar("AdapterT", VirtualFcAdapter, VirtualScsiAdapter)


MAC_PATTERN = r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# A host PCI device as lspci names it: [domain:]bus:device.function, lowercase hex.
PCI_ADDRESS_PATTERN = r"^([0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$"
# A host file or directory, put inside a QEMU option: absolute, and without a comma
# (QEMU's option separator) or a control character, so it cannot end its option and
# add another.
HOST_PATH_PATTERN = r"^/[^,\x00-\x1f\x7f]{0,4095}$"


class VirtualEthernetAdapter(Frozen):
    """A virtual Ethernet adapter: a port of its system's virtual switch on one VLAN,
    its port VLAN id (untagged: the virtual switch carries no 802.1Q tags, see
    net/switch.py, so there are no additional tagged VLANs)."""

    slot: int = Field(ge=2, le=1023)
    port_vlan_id: int = Field(ge=1, le=4094)
    # Given when the partition is created, and kept wherever it moves.
    mac_addr: str | None = Field(default=None, pattern=MAC_PATTERN)


class PartitionProfile(Frozen):
    """What ``mksyscfg -r lpar`` defines: memory in MB, processors as virtual CPUs."""

    name: str = Field(pattern=NAME_PATTERN)
    lpar_id: int | None = Field(default=None, ge=1, le=65535)
    profile_name: str = Field(default="default", pattern=PROFILE_NAME_PATTERN)
    min_mem: int = Field(ge=64)
    desired_mem: int = Field(ge=64)
    max_mem: int = Field(ge=64)
    min_procs: int = Field(ge=1)
    desired_procs: int = Field(ge=1)
    max_procs: int = Field(ge=1, le=255)
    proc_compat_mode: str = Field(default="qemu64", pattern=r"^[A-Za-z0-9_.+-]+$")
    migration_disabled: bool = False
    kernel_args: str = Field(default="", max_length=512, pattern=r"^[^\x00-\x1f]*$",
                             description="added to the system's kernel command line; for "
                                         "a partition booting its own disk, handed to its "
                                         "guest tools (fw_cfg opt/org.openlpm/args)")
    # Unset, the system's own kernel boots the partition directly (the lab's quick path);
    # set, firmware boots the operating system installed on the LUNs of this adapter.
    boot_device_slot: int | None = Field(default=None, ge=2, le=1023)
    firmware: Firmware = Firmware.BIOS
    # Devices that exist on one host only; validation names each, since none can migrate.
    disks: tuple[str, ...] = Field(default=(), description="host-local disk image files")
    networks: tuple[str, ...] = Field(default=(), description='"user": QEMU user-mode NAT')
    shares: tuple[str, ...] = Field(default=(), description="host directories (virtfs)")
    io_slots: tuple[str, ...] = Field(default=(), description="host PCI devices (vfio)")
    virtual_eth_adapters: tuple[VirtualEthernetAdapter, ...] = ()
    virtual_fc_adapters: tuple[VirtualFcAdapter, ...] = ()
    virtual_scsi_adapters: tuple[VirtualScsiAdapter, ...] = ()
    # The HMC's partition UUID: given by the system that creates the partition (QEMU's
    # -uuid, the guest's SMBIOS system UUID), kept wherever it moves.
    uuid: str | None = Field(default=None, pattern=UUID_PATTERN)

    @property
    def storage_adapters(self) -> tuple[VirtualFcAdapter | VirtualScsiAdapter, ...]:
        return (*self.virtual_fc_adapters, *self.virtual_scsi_adapters)

    @property
    def io_services(self) -> tuple[int, ...]:
        """The I/O services its virtual FC and SCSI adapters use: two or more are
        redundant paths (multipath I/O in the guest's terms)."""
        return tuple(sorted({a.io_service for a in self.storage_adapters}))

    def on_io_services(self, count: int, fc: Mapping[int, int] | None = None,
                       scsi: Mapping[int, int] | None = None) -> PartitionProfile:
        """The profile on a system with ``count`` I/O services: each adapter goes to the
        I/O service chosen for its slot (``fc``, ``scsi``: slot to I/O service), or
        keeps its own if that system has it, or goes to the first one (its redundant
        path is then lost). A choice the system cannot take is validation's to refuse."""
        def placed(adapters: tuple[AdapterT, ...],
                   chosen: Mapping[int, int] | None) -> tuple[AdapterT, ...]:
            def io_service(adapter: AdapterT) -> int:
                wanted = [(chosen or {}).get(adapter.slot), adapter.io_service]
                return next((n for n in wanted if n is not None and n <= count), 1)
            return tuple(a.model_copy(update={"io_service": io_service(a)}) for a in adapters)
        return self.model_copy(update={
            "virtual_fc_adapters": placed(self.virtual_fc_adapters, fc),
            "virtual_scsi_adapters": placed(self.virtual_scsi_adapters, scsi)})

    @property
    def host_devices(self) -> tuple[str, ...]:
        """Its devices that are the host's own: disk files, shared directories, PCI
        devices. Only a super administrator may give them (hmc/access.py), and an agent
        only from the directories it allows (agent/host_devices.py)."""
        return (*self.disks, *self.shares, *self.io_slots)

    @field_validator("disks", "shares")
    @classmethod
    def _host_paths(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            if not re.fullmatch(HOST_PATH_PATTERN, path):
                raise ValueError(f"{path!r} is not an absolute path without commas or "
                                 f"control characters")
        return paths

    @field_validator("io_slots")
    @classmethod
    def _pci_addresses(cls, addresses: tuple[str, ...]) -> tuple[str, ...]:
        for address in addresses:
            if not re.fullmatch(PCI_ADDRESS_PATTERN, address):
                raise ValueError(f"{address!r} is not a PCI address such as 0000:03:00.0 "
                                 f"or 03:00.0 (lowercase hexadecimal)")
        return addresses

    @model_validator(mode="after")
    def _ordered(self) -> PartitionProfile:
        if any(n != "user" for n in self.networks):
            raise ValueError('networks: the only network type is "user" (QEMU user-mode NAT)')
        if not self.min_mem <= self.desired_mem <= self.max_mem:
            raise ValueError("memory must satisfy min_mem <= desired_mem <= max_mem")
        if not self.min_procs <= self.desired_procs <= self.max_procs:
            raise ValueError("processors must satisfy min_procs <= desired_procs <= max_procs")
        slots = {a.slot for a in self.storage_adapters}
        if self.boot_device_slot is not None and self.boot_device_slot not in slots:
            raise ValueError(f"boot_device_slot {self.boot_device_slot} is not the slot of "
                             f"one of the partition's virtual FC or SCSI adapters")
        if self.firmware == Firmware.UEFI and self.boot_device_slot is None:
            raise ValueError("firmware=uefi boots the partition's own disk: give "
                             "boot_device_slot, the slot of the adapter of its boot LUN")
        return self

    @property
    def boots_by_firmware(self) -> bool:
        return self.boot_device_slot is not None


class Partition(Frozen):
    """A partition as its managed system reports it."""

    profile: PartitionProfile
    state: PartitionState
    activated_once: bool = False
    curr_mem: int = 0
    curr_procs: int = 0
    # As the HMC's os_version: "Linux/Debian 6.1.0-28-cloud-amd64 12", from the guest
    # agent of a running partition; None while none has answered since it started.
    os_version: str | None = None

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def lpar_id(self) -> int:
        return self.profile.lpar_id or 0

    @property
    def uuid(self) -> str:
        return self.profile.uuid or name_uuid(self.name)


class PartitionRuntime(Frozen):
    """What a system really has of a partition: its state, and its QEMU's if one runs.

    ``qemu_status`` is QEMU's run state (``running``, ``paused``, ``inmigrate``,
    ``postmigrate``, ...) or None when no QEMU runs; ``migration_status`` is that of
    ``query-migrate`` (``active``, ``completed``, ...).
    """

    name: str
    state: PartitionState
    qemu_status: str | None = None
    migration_status: StreamStatus | None = None
    incoming_migration: str | None = None

    @property
    def guest_runs(self) -> bool:
        return self.qemu_status == "running"


class MoverCertificate(Frozen):
    """The certificate a console issued to a mover service for its encrypted streams."""

    subject: str
    authority: str
    authority_fingerprint: str
    expires: float


class MoverInfo(Frozen):
    """A mover service: its control API and the address its migration stream listens on."""

    name: str
    control_url: str
    data_address: str
    version: str = ""
    max_migrations: int = 8
    certificate: MoverCertificate | None = None


class ChannelStats(Frozen):
    """A mover's channel of one migration: its connections and the bytes it carried."""

    migration_id: str
    direction: str
    connections: int
    bytes_out: int
    bytes_in: int
    encrypted: bool = False
    cipher: str = ""


class LocalMover(Frozen):
    """What a mover service tells the agent of its own host, on a local socket: itself,
    and its one-time enrollment code until a console enrolled it (the console asks the
    agent for it, having enrolled the agent with the system's own code)."""

    info: MoverInfo
    enrollment_code: str | None = Field(default=None, repr=False)


class MoverProbe(Frozen):
    """Whether a mover opened a stream to its peer's data address and was answered."""

    peer: str
    reachable: bool
    encrypted: bool = False
    round_trip_ms: float | None = None
    error: str | None = None


class CpuModel(Frozen):
    """A CPU model as a system's QEMU offers it: features it lacks make it unusable."""

    name: str
    unavailable_features: tuple[str, ...] = ()


class GuestVerdict(Frozen):
    """The partition's own answer to "may you migrate?" (its mobility hooks), through
    its guest agent (``qemu-guest-agent``) or the lab image's serial hook."""

    answered: bool
    veto: str | None = None
    # What its guest agent says of its operating system (the HMC's os_version).
    os_version: str | None = None


class SystemInfo(Frozen):
    """A managed system's identity and resources, as its agent reports them."""

    name: str
    state: str = "Operating"
    maintenance: bool = False
    cpus: int
    memory_mb: int
    free_cpus: int
    free_memory_mb: int
    accel: str
    qemu_version: str
    agent_version: str
    page_size_kb: int = 4
    convergence: Convergence = Convergence.PRECOPY
    max_downtime_ms: int = 1000
    stream_encryption: bool = True
    max_active_migrations: int = 16
    max_inactive_migrations: int = 16
    movers: tuple[MoverInfo, ...] = ()
    # The SAN this system's I/O services are cabled to (its control API).
    san_url: str | None = None
    io_services: int = Field(default=1, ge=1, le=MAX_IO_SERVICES)
    # The VLANs its virtual switch bridges to the network (what a partition's virtual
    # Ethernet adapters may use here).
    vlans: tuple[int, ...] = ()

    def mover_id(self, name: str) -> int | None:
        """The HMC's MSP id of a mover service: its place among the system's movers, from
        1 (a host runs one mover, so it is 1; an HMC's MSP id is its VIOS's lpar_id)."""
        return next((n for n, m in enumerate(self.movers, 1) if m.name == name), None)

    def mover_named_by_id(self, msp_id: int) -> str | None:
        return self.movers[msp_id - 1].name if 1 <= msp_id <= len(self.movers) else None


class MigrationProgress(Frozen):
    """One sample of QEMU's ``query-migrate`` on the source, in HMC-meaningful terms."""

    status: StreamStatus
    transferred: int = 0
    remaining: int = 0
    total: int = 0
    rate_bps: float = 0.0
    passes: int = 0
    downtime_ms: int | None = None
    total_time_ms: int | None = None
    error: str | None = None
    dirty_rate_pps: float = 0.0
    throttle_pct: int = 0
    # When the source QEMU paused the guest for the switch-over (its STOP event's stamp,
    # seconds since the epoch on the source host's clock); None while the guest runs.
    paused_at: float | None = None


class IncomingFinished(Frozen):
    """The target's answer once a migrated partition runs there (step 5a): the partition,
    and when its QEMU resumed the guest (its RESUME event's stamp, seconds since the epoch
    on the target host's clock; None for an inactive partition)."""

    partition: Partition
    resumed_at: float | None = None


class HostClock(Frozen):
    """A host's clock as its agent read it (seconds since the epoch)."""

    time: float


class Finding(Frozen):
    """One result of validation: what is wrong, with what, and what to do."""

    severity: Severity
    code: str
    object: str
    message: str
    remedy: str = ""
    # The console that found it, when another than the one asked (a remote target's).
    console: str = ""


class StorageSeen(Frozen):
    """What a system opens of a partition's LUNs, and which of their paths it lacks."""

    luns: tuple[str, ...]
    lost_paths: tuple[str, ...] = ()


class Lun(Frozen):
    """A LUN of the SAN: its NBD export and who it is mapped to."""

    name: str = Field(pattern=LUN_NAME_PATTERN)
    size_mb: int
    host: str
    port: int
    mappings: tuple[str, ...] = ()


class LunCreate(Frozen):
    name: str = Field(pattern=LUN_NAME_PATTERN)
    size_mb: int = Field(default=0, ge=0, le=1 << 20, description="0: the size of source")
    source: str | None = Field(default=None, description="an image file on the SAN host "
                               "to copy, such as the partition image's boot LUN")


class LunMapping(Frozen):
    identity: str = Field(pattern=IDENTITY_PATTERN)


class FabricLogin(Frozen):
    """A WWPN or host logging in to the SAN: the certificate request of its own key."""

    identity: str = Field(pattern=IDENTITY_PATTERN)
    # A certificate request is half a kilobyte: any system with the hosts key may call.
    request: str = Field(max_length=16384)


class FabricCredentials(Frozen):
    certificate: str
    authority: str


def service_url(url: str) -> str:
    """``url`` if it is an http or https URL with a host and a port (a service's base,
    put together with paths later), else ValueError naming what is wrong."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None \
            or parts.path not in ("", "/") or parts.query or parts.fragment \
            or parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r} is not http(s)://HOST:PORT")
    return url.rstrip("/")


ServiceUrl = Annotated[str, Field(max_length=300), AfterValidator(service_url)]


class SanInfo(Frozen):
    """What a SAN says of itself (``GET /info``, the console's only)."""

    name: str
    version: str


class HostsKey(Frozen):
    """The key a SAN's agents call it with (``GET /keys/hosts``); None: a SAN that
    serves anyone (``--insecure``)."""

    key: str | None = Field(default=None, repr=False)


class SanSettings(Frozen):
    """How a system's agent reaches the SAN (the console's ``PUT /san``): its address,
    its hosts key, and the authority (PEM) its certificate is checked against; the key
    and authority are None for a SAN that serves plain HTTP to anyone."""

    url: ServiceUrl
    hosts_key: str | None = Field(default=None, max_length=256, repr=False)
    authority: str | None = Field(default=None, max_length=16384)


class SanConnectionState(StrEnum):
    CONNECTED = "connected"
    UNREACHABLE = "unreachable"


class SanConnection(Frozen):
    """The console's SAN: where it answers, its name and version as it last said, and
    the managed systems whose agents did not take its address and key (they answered
    no, or not at all: give it again with the system's next add or connection)."""

    url: str
    name: str
    version: str
    state: SanConnectionState = SanConnectionState.CONNECTED
    systems_without: tuple[str, ...] = ()


class ConsoleLine(Frozen):
    """A line the partition wrote on its console, stamped when its system received it."""

    t: float
    text: str
    system: str = ""
    # The partition paused in the middle of this line: its end is the next line received
    # (on the target of the migration), and the two are shown as one.
    partial: bool = False


class MigrationRecord(Frozen):
    """A migration job as the console keeps it and ``lslparmigr`` shows it."""

    id: str
    partition: str
    source: str
    target: str
    kind: MigrationKind
    state: MigrationState
    step: MigrationStep | None = None
    step_phase: str = ""
    started: float
    ended: float | None = None
    bytes_transmitted: int = 0
    bytes_remaining: int = 0
    rate_bps: float = 0.0
    passes: int = 0
    # The guest's real pause: source QEMU's STOP to target QEMU's RESUME, the two hosts'
    # clocks compared; qemu_downtime_ms is QEMU's own figure, measured by the source
    # alone up to its last byte written (before the bytes in flight reach the target).
    downtime_ms: int | None = None
    qemu_downtime_ms: int | None = None
    total_time_ms: int | None = None
    dest_lpar_id: int | None = None
    dest_profile_name: str | None = None
    source_msp_name: str | None = None
    dest_msp_name: str | None = None
    source_msp_id: int | None = None
    dest_msp_id: int | None = None
    encrypted: bool | None = None
    error_code: str | None = None
    error_message: str | None = None
    warnings: tuple[Finding, ...] = ()
    convergence: Convergence = Convergence.PRECOPY
    downtime_limit_ms: int | None = None
    rounds: tuple[MigrationRound, ...] = ()
    # A migration across consoles: on the console driving it, the console managing the
    # target; on that console, the one driving it (which alone may stop or recover it).
    target_console: str | None = None
    driven_by: str | None = None
    # The user this console acts as on target_console (the HMC's remote_user).
    remote_user: str | None = None


class JournalEntry(Frozen):
    """One line of a migration's journal: a step began, ended, failed, or was undone."""

    migration_id: str
    at: float
    step: MigrationStep | None
    phase: str
    detail: str


class AdapterMapping(Frozen):
    """Where a migration puts one virtual FC or SCSI adapter of the partition (by its
    slot): an I/O service of the target (``migrlpar -i virtual_fc_mappings=4//2``)."""

    slot: int = Field(ge=2, le=1023)
    io_service: int = Field(ge=1, le=MAX_IO_SERVICES)


class VlanMapping(Frozen):
    """Where a migration puts one virtual Ethernet adapter of the partition (by its MAC
    address): a VLAN of the target (``migrlpar -i vlan_mappings=525400AABBCC/10``)."""

    mac_addr: str = Field(pattern=MAC_PATTERN)
    port_vlan_id: int = Field(ge=1, le=4094)


class MigrationRequest(Frozen):
    """One ``migrlpar -o v|m``: built alike by the CLI, the REST API and the web console."""

    source: str
    target: str
    partition: str | None = None
    lpar_id: int | None = None
    dest_profile_name: str | None = Field(default=None, pattern=PROFILE_NAME_PATTERN)
    dest_lpar_id: int | None = Field(default=None, ge=1, le=65535)
    source_msp_name: str | None = None
    dest_msp_name: str | None = None
    # The HMC's MSP ids (SystemInfo.mover_id): another way to name the movers.
    source_msp_id: int | None = Field(default=None, ge=1)
    dest_msp_id: int | None = Field(default=None, ge=1)
    # The mover with this data address (the HMC's MSP IP address) on that side.
    source_msp_ipaddr: str | None = None
    dest_msp_ipaddr: str | None = None
    wait_minutes: float | None = Field(default=None, gt=0)
    remote_hmc: str | None = None
    remote_user: str | None = None
    # The HMC's policy flags, 1 = required, 2 = if possible; None = the HMC's default.
    vlan_bridge: int | None = Field(default=None, ge=1, le=2)
    mpio: int | None = Field(default=None, ge=1, le=2)
    redundant_vios: int | None = Field(default=None, ge=0, le=2)
    npiv_validation: str | None = Field(default=None, pattern="^(port|portdisk)$")
    # openlpm's own: None takes the source system's default.
    convergence: Convergence | None = None
    max_downtime_ms: int | None = Field(default=None, ge=10, le=60000)
    streams: int = Field(default=1, ge=1, le=16)
    compression: Compression = Compression.NONE
    # Adapters the user places on the target; the others keep their I/O service when
    # the target has it, and go to its first otherwise.
    virtual_fc_mappings: tuple[AdapterMapping, ...] = ()
    virtual_scsi_mappings: tuple[AdapterMapping, ...] = ()
    # Virtual Ethernet adapters the user puts on another VLAN of the target; the others
    # keep theirs.
    vlan_mappings: tuple[VlanMapping, ...] = ()

    def placed(self, profile: PartitionProfile, io_services: int) -> PartitionProfile:
        """The partition's profile with its adapters where this migration puts them on
        a target with ``io_services`` I/O services, and its virtual Ethernet adapters
        on the VLANs mapped for them."""
        vlans = {m.mac_addr: m.port_vlan_id for m in self.vlan_mappings}
        placed = profile.on_io_services(
            io_services, fc={m.slot: m.io_service for m in self.virtual_fc_mappings},
            scsi={m.slot: m.io_service for m in self.virtual_scsi_mappings})
        return placed.model_copy(update={"virtual_eth_adapters": tuple(
            a.model_copy(update={"port_vlan_id": vlans.get(a.mac_addr or "", a.port_vlan_id)})
            for a in placed.virtual_eth_adapters)})


class CheckResult(Frozen):
    """One check that validation ran, and how many findings it gave."""

    check: str
    description: str
    found: int
    # The console that ran it, when another than the one asked (a remote target's).
    console: str = ""


class PartitionChanges(Frozen):
    """What ``chsyscfg -r lpar`` may change, in any state."""

    migration_disabled: bool


class MaintenanceChange(Frozen):
    maintenance: bool


class MigrationDefaults(Frozen):
    """``migrlpar -o set -r sys``: defaults of the migrations that leave a system."""

    convergence: Convergence | None = None
    max_downtime_ms: int | None = Field(default=None, ge=10, le=60000)
    stream_encryption: bool | None = None


class ValidationReport(Frozen):
    partition: str
    source: str
    target: str
    kind: MigrationKind | None
    findings: tuple[Finding, ...]
    checks: tuple[CheckResult, ...] = ()
    elapsed_ms: float = 0.0

    @property
    def passed(self) -> bool:
        return not any(f.severity == Severity.ERROR for f in self.findings)


class PartitionUsage(Frozen):
    """What one partition used over a window: processor cores (1.0 = one core busy all
    the time), the memory it was given and what its QEMU holds resident."""

    name: str
    cpu_cores: float
    memory_mb: int
    resident_mb: int = 0


class SystemUtilization(Frozen):
    """A managed system's capacity and what its running partitions used over a window."""

    system: str
    cpus: int
    memory_mb: int
    maintenance: bool = False
    window_s: float
    partitions: tuple[PartitionUsage, ...] = ()


class BalancePolicy(Frozen):
    """Constraints ``openlpm balance`` honours (its ``--policy`` file)."""

    pins: dict[str, str] = Field(default_factory=dict,
                                 description="partition -> the system it stays on")
    apart: tuple[tuple[str, ...], ...] = Field(
        default=(), description="groups of partitions that never share a system")


class BalanceRequest(Frozen):
    goal: BalanceGoal = BalanceGoal.CPU
    max_moves: int = Field(default=5, ge=0, le=1000)
    window_s: float = Field(default=60.0, gt=0, le=600)
    dry_run: bool = False
    policy: BalancePolicy = BalancePolicy()


class SystemLoad(Frozen):
    """A system's load (use of the goal resource over its capacity) before and after."""

    system: str
    before: float
    after: float


class BalanceMove(Frozen):
    partition: str
    source: str
    target: str
    warnings: tuple[Finding, ...] = ()
    migration_id: str | None = None
    # Why the move did not start, when the console refused it at submission.
    reason: str = ""


class BalancePlan(Frozen):
    goal: BalanceGoal
    window_s: float
    spread_before: float
    spread_after: float
    systems: tuple[SystemLoad, ...]
    moves: tuple[BalanceMove, ...]
    # Moves the planner wanted that validation refused, each with its first error.
    refused: tuple[str, ...] = ()


class Placement(Frozen):
    """Where evacuating a system puts one of its partitions, and how that went."""

    partition: str
    kind: MigrationKind | None
    memory_mb: int
    procs: int
    target: str | None = None
    # Why the partition stays, when no target passed validation for it.
    reason: str = ""
    warnings: tuple[Finding, ...] = ()
    migration_id: str | None = None


class EvacuationPlan(Frozen):
    """``openlpm evacuate``: every partition of a system, in the order they are moved."""

    system: str
    targets: tuple[str, ...]
    placements: tuple[Placement, ...]


USER_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$"
# What a request may give as a user name or a password before anyone signed in: more is
# refused at the wire (HSCLF101), before it reaches scrypt or the audit log.
USER_NAME_MAX = 64
PASSWORD_MAX = 1024


class Role(StrEnum):
    """The HMC's task roles that openlpm has; what each may do is in docs/access.md."""

    SUPERADMIN = "hmcsuperadmin"
    OPERATOR = "hmcoperator"
    VIEWER = "hmcviewer"


class User(Frozen):
    name: str
    role: Role
    created: float


class UserCreate(Frozen):
    name: str = Field(pattern=USER_NAME_PATTERN)
    role: Role
    password: str = Field(repr=False, max_length=PASSWORD_MAX)


class UserChange(Frozen):
    role: Role | None = None
    password: str | None = Field(default=None, repr=False, max_length=PASSWORD_MAX)


class Login(Frozen):
    user: str = Field(max_length=USER_NAME_MAX)
    password: str = Field(repr=False, max_length=PASSWORD_MAX)


class Session(Frozen):
    """A signed-in user: the token to send (``Authorization: Bearer``) and until when."""

    user: str
    role: Role
    token: str = Field(repr=False)
    expires: float


class ApiToken(Frozen):
    """A token for scripts: it does not expire; only its digest is kept."""

    id: str
    user: str
    name: str
    created: float
    last_used: float | None = None


class TokenCreate(Frozen):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]*$")


# The longest public key line a console takes (``mkauthkeys -a``): an RSA key of 16384
# bits with a comment fits.
AUTHORIZED_KEY_MAX = 8192


class AuthorizedKey(Frozen):
    """An SSH public key a console user signs in with through the SSH door
    (``mkauthkeys -a``, ``lsauthkeys``); ``key`` is its line, ``TYPE BASE64 COMMENT``."""

    id: str
    user: str
    type: str
    fingerprint: str
    comment: str
    added: float
    key: str


class AuthorizedKeyAdd(Frozen):
    """``POST /users/{name}/keys``: an OpenSSH public key line, ``TYPE BASE64 [COMMENT]``."""

    key: str = Field(min_length=1, max_length=AUTHORIZED_KEY_MAX)


class TokenCreated(Frozen):
    token: ApiToken
    secret: str = Field(repr=False, description="shown once, never stored")


class AuditEvent(Frozen):
    """One line of the console's audit log (``lssvcevents -t console``)."""

    at: float
    user: str
    action: str
    result: str
    code: str | None = None


class SystemSummary(Frozen):
    """A managed system as the console lists it: reachable or not."""

    name: str
    state: str
    agent_url: str
    info: SystemInfo | None = None
    message: str | None = None
    # The HSCL code of why it is not Operating: No Connection's or Version Mismatch's.
    error_code: str | None = None


class EnrollmentRequest(Frozen):
    """A service's answer to ``GET /enrollment`` (``trust.py``): its certificate request
    and whether a console enrolled it."""

    request: str
    enrolled: bool
    # The service's name (a system's, a mover's), so a console adding it by its address
    # learns it; "" from a release before it was sent.
    name: str = ""
    # While not enrolled, HMAC-SHA256 keyed with the enrollment code over the request
    # (trust.enrollment_proof): the console checks the service knows the code before it
    # signs anything. "" once enrolled, and from a release before 0.2.
    proof: str = Field(default="", max_length=64)


class ResourceType(StrEnum):
    """What a connection of ``mksysconn`` reaches: a managed system's agent, or the SAN."""

    SYS = "sys"
    SAN = "san"


# The port each kind of service listens on unless told otherwise.
DEFAULT_PORTS = {ResourceType.SYS: 8470, ResourceType.SAN: 8490}
# A host name (RFC 1123 labels) or an IPv4 address; IPv6 addresses are checked apart.
HOST_NAME_PATTERN = (r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def host_address(value: str) -> str:
    """``value`` if it is an IPv4 or IPv6 address or a host name, else ValueError: it is
    put into a URL, where a '/', '@', '#', ':' or a control character would change what
    the URL reaches."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is not None:
        # ipaddress takes any text after '%' but '/' as an IPv6 scope: ']', '@', '#'
        # there would move the URL's host elsewhere.
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            raise ValueError(f"{value!r}: give an IPv6 address without a scope (%...)")
        return str(address)
    if not re.fullmatch(HOST_NAME_PATTERN, value):
        raise ValueError(f"{value!r} is not an IP address or a host name")
    return value.lower()


HostAddress = Annotated[str, Field(max_length=253), AfterValidator(host_address)]


def url_host(host: str) -> str:
    """A host as the authority part of a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


class SysConnCreate(Frozen):
    """``mksysconn``: the address of a system's agent or of the SAN, and the one-time
    enrollment code of a service that no console enrolled yet."""

    ip: HostAddress
    resource_type: ResourceType = ResourceType.SYS
    password: str | None = Field(default=None, max_length=256, repr=False)
    port: int | None = Field(default=None, ge=1, le=65535)

    def url(self) -> str:
        return f"https://{url_host(self.ip)}:{self.port or DEFAULT_PORTS[self.resource_type]}"


class SysConn(Frozen):
    """A connection as ``lssysconn -r all`` lists it (the HMC's attributes, and the
    service's name and version)."""

    resource_type: ResourceType
    type_model_serial_num: str
    sp: str = "primary"
    sp_phys_loc: str = "unavailable"
    ipaddr: str
    alt_ipaddr: str = "unavailable"
    state: str
    connection_error_code: str = ""
    name: str
    version: str | None = None


class PartitionSummary(Frozen):
    """A partition as the console lists it: what its system says, plus migration state."""

    system: str
    partition: Partition
    migration_state: MigrationState = MigrationState.NOT_MIGRATING
    migration_id: str | None = None


# A SHA-256 certificate fingerprint as openssl shows it, colons optional.
FINGERPRINT_PATTERN = r"^(?:[0-9A-Fa-f]{2}:?){32}$"


class KeyExchange(Frozen):
    """``mkauthkeys --ip REMOTE -u USER``: the remote console and who to act as there."""

    ip: str = Field(min_length=1)
    user: str = Field(min_length=1, max_length=USER_NAME_MAX)
    password: str = Field(repr=False, min_length=1, max_length=PASSWORD_MAX)
    # The SHA-256 fingerprint of the remote console's certificate, as openssl shows it
    # (colons and case optional): keys are exchanged only if it answers with that one.
    fingerprint: str | None = Field(default=None, pattern=FINGERPRINT_PATTERN)


class MetCertificate(Frozen):
    """The certificate a console answered with, before any key exchange: what the user
    of ``mkauthkeys`` compares with the remote console's own before sending a password."""

    url: str
    fingerprint: str


class RemoteConsole(Frozen):
    """A console this one exchanged keys with: it acts there as ``user``, with that user's
    role there (``lsauthkeys``). The token it holds is never shown."""

    name: str
    url: str
    user: str
    added: float
    mover_authority_fingerprint: str
    # The SHA-256 fingerprint of the certificate the console answered with, pinned at
    # the exchange (None for a console reached over plain HTTP).
    certificate_fingerprint: str | None = None


class PeerTrust(Frozen):
    """What two consoles give each other when they exchange keys: their names and the
    authority that certifies their movers, so that a stream may go from one to the
    other's."""

    console: str
    mover_authority: str


class IncomingValidation(Frozen):
    """What a console asks of the remote console that manages the target: the request
    (its ``target`` a system of the remote), the partition and its source system."""

    request: MigrationRequest
    partition: Partition
    source: SystemInfo


class IncomingValidationReport(Frozen):
    """The remote console's answer: its target system (None when its agent did not
    answer, with why) and the findings of the checks of the target it ran."""

    console: str
    target: SystemInfo | None
    target_error: str | None = None
    findings: tuple[Finding, ...] = ()
    checks: tuple[CheckResult, ...] = ()
