"""The one error tree of openlpm.

Every failure a user can act on is an ``OpenLpmError`` carrying an HSCL-style code and
a message that names the object and the fix. Front ends translate it exactly once:
the CLI into an exit status and ``CODE message`` on stderr, the REST APIs into an HTTP
status and a JSON body that the HTTP clients turn back into the same class.

::

    OpenLpmError
     +-- RequestInvalid          the command or request is malformed       (400, exit 2)
     |    +-- RequestTooLarge  its body is over the API's limit            (413, exit 2)
     +-- ObjectNotFound          a named system, partition or job is unknown (404, exit 3)
     +-- ObjectExists            the name or id is taken                   (409, exit 4)
     +-- WrongState              the object is in a state that forbids it  (409, exit 5)
     +-- ValidationFailed        migration prerequisites are not met       (409, exit 6)
     +-- InsufficientResources   not enough memory or processors           (409, exit 7)
     +-- SystemUnreachable       an agent, mover or console did not answer (503, exit 8)
     +-- HypervisorError         QEMU refused or failed an operation       (502, exit 9)
     +-- MigrationFailed         a migration stopped at one of its steps   (500, exit 10)
     +-- NotSignedIn             no valid session or token; a wrong password (401, exit 11)
     +-- NotPermitted            the user's role does not allow it         (403, exit 12)
     +-- TooManyAttempts         signing in is refused for a while         (429, exit 13)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class OpenLpmError(Exception):
    """Root of every error a user can act on."""

    http_status: ClassVar[int] = 500
    exit_status: ClassVar[int] = 1
    default_code: ClassVar[str] = "HSCLF100"

    def __init__(self, message: str, *, code: str | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return f"{self.code} {self.message}"

    def to_wire(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "code": self.code,
                "message": self.message, "details": self.details}


class RequestInvalid(OpenLpmError):
    http_status = 400
    exit_status = 2
    default_code = "HSCLF101"


class RequestTooLarge(RequestInvalid):
    """A request body over the API's limit, refused before it is read whole."""

    http_status = 413
    default_code = "HSCLF517"


class ObjectNotFound(OpenLpmError):
    http_status = 404
    exit_status = 3
    default_code = "HSCLF102"


class ObjectExists(OpenLpmError):
    http_status = 409
    exit_status = 4
    default_code = "HSCLF103"


class WrongState(OpenLpmError):
    http_status = 409
    exit_status = 5
    default_code = "HSCLF104"


class ValidationFailed(OpenLpmError):
    """Carries every finding of the validation in ``details["findings"]``."""

    http_status = 409
    exit_status = 6
    default_code = "HSCLF105"


class InsufficientResources(OpenLpmError):
    http_status = 409
    exit_status = 7
    default_code = "HSCLF106"


class SystemUnreachable(OpenLpmError):
    http_status = 503
    exit_status = 8
    default_code = "HSCLF107"


class HypervisorError(OpenLpmError):
    http_status = 502
    exit_status = 9
    default_code = "HSCLF108"


# The code of a HypervisorError for a QMP command QEMU did not answer in time (stopped or
# hung, agent/qemu.py): the console's diagnosis of a stalled stream reads it.
QEMU_NOT_ANSWERING = "HSCLF135"


class MigrationFailed(OpenLpmError):
    http_status = 500
    exit_status = 10
    default_code = "HSCLF109"


class NotSignedIn(OpenLpmError):
    """Signing in failed, or a request carries no valid session or token."""

    http_status = 401
    exit_status = 11
    default_code = "HSCLF502"


class NotPermitted(OpenLpmError):
    """The signed-in user's role does not allow the operation."""

    http_status = 403
    exit_status = 12
    default_code = "HSCL350B"


def no_authority(detail: str) -> NotPermitted:
    """The HMC's own HSCL350B and its words, which IBM's Ansible collection looks for: the
    signed-in user's role does not allow the request (``detail`` says which and why)."""
    return NotPermitted(f"The user does not have the appropriate authority: {detail}",
                        code="HSCL350B")


class TooManyAttempts(OpenLpmError):
    """Too many failed sign-ins for a user or from an address: wait, then try again."""

    http_status = 429
    exit_status = 13
    default_code = "HSCLF510"


def partition_not_found(names: Sequence[str], system: str) -> ObjectNotFound:
    """The HMC's own HSCL8012: partitions named that a managed system does not have
    (scripts and IBM's Ansible collection look for this code)."""
    which = (f"The partition named {names[0]} was not found" if len(names) == 1
             else f"The partitions named {', '.join(names)} were not found")
    return ObjectNotFound(
        f"{which} on managed system {system}. Please check your entry and retry the "
        f"command (lssyscfg -r lpar -m {system} -F name lists its partitions).",
        code="HSCL8012")


_KINDS: dict[str, type[OpenLpmError]] = {
    cls.__name__: cls
    for cls in (OpenLpmError, RequestInvalid, ObjectNotFound, ObjectExists, WrongState,
                ValidationFailed, InsufficientResources, SystemUnreachable,
                HypervisorError, MigrationFailed, NotSignedIn, NotPermitted,
                RequestTooLarge, TooManyAttempts)
}


def from_wire(body: Mapping[str, Any]) -> OpenLpmError:
    """Rebuild the error an API sent, so clients raise what the server raised."""
    cls = _KINDS.get(str(body.get("kind")), OpenLpmError)
    return cls(str(body.get("message", "unknown error")), code=body.get("code"),
               details=body.get("details"))
