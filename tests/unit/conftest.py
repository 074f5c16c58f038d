"""What every unit test shares."""

from __future__ import annotations

import pytest

from openlpm.hmc import passwords


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords hashed at N=2^10, not the real 2^17 (most of a second each): the tests
    sign in often. test_sign_in.py checks the real cost."""
    monkeypatch.setattr(passwords, "COST", passwords.Cost(10, 8, 1))
