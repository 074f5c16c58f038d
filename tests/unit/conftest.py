"""What every unit test shares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openlpm.hmc.access import passwords
from openlpm.hmc.http.app import create_app
from tests.unit.signed_in import ADMIN


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords hashed at N=2^10, not the real 2^17 (most of a second each): the tests
    sign in often. test_sign_in.py checks the real cost."""
    monkeypatch.setattr(passwords, "COST", passwords.Cost(10, 8, 1))


@pytest.fixture
def console(tmp_path: Path) -> Iterator[TestClient]:
    """A console in this process, its first user ADMIN (signed_in.py)."""
    with TestClient(create_app(tmp_path / "hmc.db", name="hmc1", first_admin=ADMIN)) as client:
        yield client
