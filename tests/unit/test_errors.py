"""Errors keep their kind, code and details across the wire."""

from __future__ import annotations

import pytest

from openlpm import errors


@pytest.mark.parametrize("kind", [errors.RequestInvalid, errors.ObjectNotFound,
                                  errors.ObjectExists, errors.WrongState,
                                  errors.ValidationFailed, errors.InsufficientResources,
                                  errors.SystemUnreachable, errors.HypervisorError,
                                  errors.MigrationFailed])
def test_an_error_sent_over_the_api_is_raised_again_as_itself(
        kind: type[errors.OpenLpmError]) -> None:
    sent = kind("Partition p1 is busy.", code="HSCLF999", details={"findings": [1]})
    received = errors.from_wire(sent.to_wire())
    assert type(received) is kind
    assert (received.code, received.message, received.details) == \
        ("HSCLF999", "Partition p1 is busy.", {"findings": [1]})
    assert str(received) == "HSCLF999 Partition p1 is busy."


def test_each_kind_of_error_has_its_own_exit_status() -> None:
    kinds = errors.OpenLpmError.__subclasses__()
    assert len({k.exit_status for k in kinds}) == len(kinds)
    assert all(k.exit_status != 0 for k in kinds)


def test_an_unknown_kind_from_a_newer_peer_is_still_an_openlpm_error() -> None:
    received = errors.from_wire({"kind": "FutureError", "code": "HSCLF900", "message": "x"})
    assert type(received) is errors.OpenLpmError and received.code == "HSCLF900"
