"""Which releases of its services a console manages: the version-skew rule.

A console manages agents, mover services and SANs of its own release series
(major.minor) and of the series one minor before it, so a site upgrades its console
first and its systems one by one after. Anything older or newer is refused, naming the
service, both versions and what to upgrade. A service that reports no version is of the
release before versions were reported (0.1.0).
"""

from __future__ import annotations

import re

from openlpm.errors import WrongState
from openlpm.model import SystemInfo

# What a service that reports no version runs.
UNREPORTED = "0.1.0"
_NUMBERED = re.compile(r"(\d{1,6})\.(\d{1,6})(?:[.+-].*)?")
# What a service says goes into messages and listings: a longer or unprintable version
# is shown as this (and managed by no console).
VERSION_MAX = 64
UNREADABLE = "(an unreadable version)"


def series(version: str) -> str:
    """``0.1.3`` -> ``0.1``; a version that is not numbered is its own series."""
    found = _NUMBERED.fullmatch(version or UNREPORTED)
    return f"{int(found[1])}.{int(found[2])}" if found else version


def reported(version: str | None) -> str:
    """The version a service runs, given what it reported (nothing: 0.1.0)."""
    if version and (len(version) > VERSION_MAX or not version.isprintable()):
        return UNREADABLE
    return version or UNREPORTED


def managed_series(console_version: str) -> tuple[str, ...]:
    """The series a console of ``console_version`` manages: its own and one minor older."""
    found = _NUMBERED.fullmatch(console_version)
    if found is None:
        return (console_version,)
    major, minor = int(found[1]), int(found[2])
    return (f"{major}.{minor}",) + ((f"{major}.{minor - 1}",) if minor > 0 else ())


def skew(what: str, version: str | None, console_version: str) -> WrongState | None:
    """The refusal of a service (``what``: "Managed system sys1") running ``version``
    by a console running ``console_version``; None when the console manages it.

    HSCLF550: the service is older than the console manages (upgrade the service);
    HSCLF551: it is newer than the console (upgrade the console).
    """
    version = reported(version)
    if series(version) in managed_series(console_version):
        return None
    allowed = " or ".join(managed_series(console_version))
    if _newer(version, console_version):
        return WrongState(
            f"{what} runs openlpm {version}, newer than this console's {console_version}: "
            f"a console manages its own release series and the one before it ({allowed}). "
            f"Upgrade the console to {series(version)} or later first.", code="HSCLF551")
    return WrongState(
        f"{what} runs openlpm {version}, older than this console ({console_version}) "
        f"manages ({allowed}). Upgrade {what} to openlpm {series(console_version)}.",
        code="HSCLF550")


def require_managed(what: str, version: str | None, console_version: str) -> None:
    """Raises WrongState (HSCLF550, HSCLF551) unless the console manages the service."""
    refusal = skew(what, version, console_version)
    if refusal is not None:
        raise refusal


def system_skew(info: SystemInfo, console_version: str) -> WrongState | None:
    """Why a console of ``console_version`` refuses to manage the system ``info``
    describes, if it does: its agent's release, or one of its mover services'."""
    refusals = (skew(f"Managed system {info.name}", info.agent_version, console_version),
                *(skew(f"Mover service {m.name} of {info.name}", m.version, console_version)
                  for m in info.movers))
    return next((refusal for refusal in refusals if refusal is not None), None)


def _newer(version: str, than: str) -> bool:
    return _numbers(version) > _numbers(than)


def _numbers(version: str) -> tuple[int, ...]:
    found = _NUMBERED.fullmatch(version)
    return (int(found[1]), int(found[2])) if found else (0, 0)
