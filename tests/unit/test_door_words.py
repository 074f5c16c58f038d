"""A command the SSH door runs takes its words from its environment, which only its
owner may read, not from its argv, which every user of the host may read in /proc."""

from __future__ import annotations

import json
import os

import pytest

from openlpm.cli.hmc_command import door_words
from openlpm.clients.console import DOOR_ARGV
from openlpm.errors import RequestInvalid


def test_the_words_come_from_the_environment_and_leave_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    words = ["--ip", "hmcb", "-u", "ops", "--passwd", "secret"]
    monkeypatch.setenv(DOOR_ARGV, json.dumps(words))
    assert door_words() == words
    # Nothing the command starts inherits them.
    assert DOOR_ARGV not in os.environ


def test_without_the_door_the_command_line_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DOOR_ARGV, raising=False)
    assert door_words() is None


@pytest.mark.parametrize("passed", ['"-r sys"', '[1, 2]', '{"a": "b"}'])
def test_words_that_are_not_a_list_of_strings_are_refused(
        monkeypatch: pytest.MonkeyPatch, passed: str) -> None:
    monkeypatch.setenv(DOOR_ARGV, passed)
    with pytest.raises(RequestInvalid) as refused:
        door_words()
    assert refused.value.code == "HSCLF001"
