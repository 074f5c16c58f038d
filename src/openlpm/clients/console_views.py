"""What the listing commands and migrlpar read of the console's answers: systems,
partitions, validation reports, migration records and their journal.

Named tuples (immutable, typed, cheaper to define than dataclasses, which import
``inspect``) read from an answer's JSON with the standard library only: pydantic and
``model.py`` cost a command 50 ms of imports, and a module of the listing's models alone
~90 ms with its first validation (docs/performance.md, "Command latency"). Each view
keeps the fields of its ``model.py`` type that a listing prints, with the same names,
types and defaults (those without one first); ``read`` checks every value against its
field's type (a state against the names of ``states.py``), and an answer that does not
fit is refused whole. Unlike the models, the views leave a value's pattern and range
unchecked: the console checked those when it took the profile. A unit test holds each
view to its model (``tests/unit/test_console_views.py``).
"""

from __future__ import annotations

import types
from enum import IntEnum, StrEnum
from functools import cache
from typing import Any, NamedTuple, TypeVar, get_args, get_origin, get_type_hints

from openlpm.states import (
    Firmware,
    MigrationKind,
    MigrationState,
    MigrationStep,
    PartitionState,
    Severity,
    name_uuid,
)


class AnswerInvalid(ValueError):
    """An answer's JSON does not have the shape of the view read from it; the message
    names the first value that does not fit."""


View = TypeVar("View", bound=tuple[Any, ...])  # a NamedTuple of this module


def read(view: type[View], value: object, where: str = "answer") -> View:
    """``value`` (decoded JSON) as ``view``, a named tuple of this module; a field the
    answer leaves out takes its default, a name the view does not keep is ignored.

    Raises AnswerInvalid.
    """
    if not isinstance(value, dict):
        raise AnswerInvalid(f"{where} is not an object")
    hints = _hints(view)
    given: dict[str, Any] = {}
    for name in hints:
        if name in value:
            given[name] = _typed(hints[name], value[name], f"{where}.{name}")
        elif name not in view._field_defaults:  # type: ignore[attr-defined]  # NamedTuple's
            raise AnswerInvalid(f"{where} has no {name}")
    return view(**given)


def read_list(view: type[View], value: object, where: str = "answer") -> list[View]:
    """A JSON list of ``view``s. Raises AnswerInvalid."""
    if not isinstance(value, list):
        raise AnswerInvalid(f"{where} is not a list")
    return [read(view, item, f"{where}[{index}]") for index, item in enumerate(value)]


@cache
def _hints(view: type) -> dict[str, Any]:
    return get_type_hints(view)


def _typed(hint: Any, value: object, where: str) -> Any:  # noqa: ANN401 - any field's type
    """``value`` checked against ``hint``: a plain type, a StrEnum, a view, ``X | None``
    or a tuple; JSON's lists become tuples."""
    if isinstance(hint, types.UnionType):
        if value is None and type(None) in get_args(hint):
            return None
        (kind,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return _typed(kind, value, where)
    if get_origin(hint) is tuple:
        return _items(get_args(hint), value, where)
    if isinstance(hint, type) and issubclass(hint, tuple):  # a view
        return read(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, StrEnum | IntEnum):
        # A step is its number in JSON, never true or 1.0; a state its name.
        members = {member.value: member for member in hint}
        if type(value) is not (int if issubclass(hint, IntEnum) else str) \
                or value not in members:
            raise AnswerInvalid(f"{where} is not one of the names of {hint.__name__}")
        return members[value]
    if hint is float and type(value) is int:  # JSON's 5 for 5.0, as pydantic takes it
        return float(value)
    # bool is an int to Python, never to JSON.
    if type(value) is not hint:
        raise AnswerInvalid(f"{where} is {type(value).__name__}, not {hint.__name__}")
    return value


def _items(kinds: tuple[Any, ...], value: object, where: str) -> tuple[Any, ...]:
    """A JSON list as ``tuple[X, ...]`` (any length) or ``tuple[X, Y]`` (exactly two)."""
    if not isinstance(value, list):
        raise AnswerInvalid(f"{where} is not a list")
    if kinds[-1] is Ellipsis:
        kinds = (kinds[0],) * len(value)
    elif len(value) != len(kinds):
        raise AnswerInvalid(f"{where} does not have {len(kinds)} items")
    return tuple(_typed(kind, item, f"{where}[{index}]")
                 for index, (kind, item) in enumerate(zip(kinds, value, strict=True)))


# -- systems (model.SystemSummary) ----------------------------------------------------------


class MoverInfoView(NamedTuple):
    name: str


class SystemInfoView(NamedTuple):
    name: str
    cpus: int
    memory_mb: int
    free_cpus: int
    free_memory_mb: int
    accel: str
    qemu_version: str
    agent_version: str
    maintenance: bool = False
    movers: tuple[MoverInfoView, ...] = ()
    io_services: int = 1


class SystemSummaryView(NamedTuple):
    name: str
    state: str
    agent_url: str
    info: SystemInfoView | None = None


# -- partitions (model.PartitionSummary) ----------------------------------------------------


class VirtualEthernetAdapterView(NamedTuple):
    slot: int
    port_vlan_id: int


class VirtualFcAdapterView(NamedTuple):
    slot: int
    wwpns: tuple[str, str]
    io_service: int = 1


class VirtualScsiAdapterView(NamedTuple):
    slot: int
    luns: tuple[str, ...]
    io_service: int = 1


class PartitionProfileView(NamedTuple):
    name: str
    min_mem: int
    desired_mem: int
    max_mem: int
    min_procs: int
    desired_procs: int
    max_procs: int
    lpar_id: int | None = None
    profile_name: str = "default"
    proc_compat_mode: str = "qemu64"
    migration_disabled: bool = False
    kernel_args: str = ""
    boot_device_slot: int | None = None
    firmware: Firmware = Firmware.BIOS
    disks: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    shares: tuple[str, ...] = ()
    io_slots: tuple[str, ...] = ()
    virtual_eth_adapters: tuple[VirtualEthernetAdapterView, ...] = ()
    virtual_fc_adapters: tuple[VirtualFcAdapterView, ...] = ()
    virtual_scsi_adapters: tuple[VirtualScsiAdapterView, ...] = ()
    uuid: str | None = None


class PartitionView(NamedTuple):
    profile: PartitionProfileView
    state: PartitionState
    curr_mem: int = 0
    curr_procs: int = 0
    os_version: str | None = None

    # As model.Partition's.
    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def lpar_id(self) -> int:
        return self.profile.lpar_id or 0

    @property
    def uuid(self) -> str:
        return self.profile.uuid or name_uuid(self.name)


class PartitionSummaryView(NamedTuple):
    system: str
    partition: PartitionView
    migration_state: MigrationState = MigrationState.NOT_MIGRATING


# -- validation and migrations (model.ValidationReport, MigrationRecord, JournalEntry) --------
# What migrlpar prints of them (cli/migrlpar.py).


class FindingView(NamedTuple):
    severity: Severity
    code: str
    object: str
    message: str
    remedy: str = ""
    console: str = ""


class CheckResultView(NamedTuple):
    check: str
    description: str
    found: int
    console: str = ""


class ValidationReportView(NamedTuple):
    partition: str
    source: str
    target: str
    kind: MigrationKind | None
    findings: tuple[FindingView, ...]
    checks: tuple[CheckResultView, ...] = ()
    elapsed_ms: float = 0.0

    @property
    def passed(self) -> bool:  # as model.ValidationReport's
        return not any(f.severity == Severity.ERROR for f in self.findings)


class MigrationRoundView(NamedTuple):
    number: int
    dirty_rate_pps: float
    transferred: int
    remaining: int
    downtime_limit_ms: int
    throttle_pct: int = 0


class MigrationRecordView(NamedTuple):
    id: str
    partition: str
    source: str
    target: str
    kind: MigrationKind
    state: MigrationState
    started: float
    step: MigrationStep | None = None
    step_phase: str = ""
    ended: float | None = None
    bytes_transmitted: int = 0
    bytes_remaining: int = 0
    rate_bps: float = 0.0
    downtime_ms: int | None = None
    source_msp_name: str | None = None
    dest_msp_name: str | None = None
    encrypted: bool | None = None
    error_code: str | None = None
    error_message: str | None = None
    warnings: tuple[FindingView, ...] = ()
    rounds: tuple[MigrationRoundView, ...] = ()


class JournalEntryView(NamedTuple):
    migration_id: str
    at: float
    step: MigrationStep | None
    phase: str
    detail: str
