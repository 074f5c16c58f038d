"""A command the SSH door runs takes its words from its environment, which only its
owner may read, not from its argv, which every user of the host may read in /proc."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from openlpm.cli import commands
from openlpm.cli.hmc_syntax import door_words
from openlpm.cli.migrlpar import migrlpar
from openlpm.cli.users import chhmcusr, mkhmcusr
from openlpm.clients.console_address import DOOR_ARGV
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


@pytest.mark.parametrize("command,words", [
    (migrlpar, ["-o", "v", "-m", "a", "-t", "b", "-p", "x", "-f", "SECRET"]),
    # -v is a flag of migrlpar's: argparse reads "-vfFILE" as -v -f FILE.
    (migrlpar, ["-o", "v", "-m", "a", "-t", "b", "-p", "x", "-vfSECRET"]),
    (migrlpar, ["-o", "v", "-m", "a", "-t", "b", "-p", "x", "-f=SECRET"]),
    (migrlpar, ["-o", "m", "-m", "a", "-t", "b", "-p", "x", "-f", "SECRET"]),
    (commands.migrlpar, ["-o", "v", "-m", "a", "-t", "b", "-p", "x", "-f", "SECRET"]),
    (mkhmcusr, ["-f", "SECRET"]),
    (chhmcusr, ["-fSECRET"]),
])
def test_a_file_of_the_console_host_is_not_read_through_the_door(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        command: Callable[[Sequence[str] | None], int], words: list[str]) -> None:
    # What a door user tries: a file only the console's own user may read, its content
    # shown back in a parse error (mkhmcusr -f /etc/shadow, migrlpar -f the database).
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$hash-of-the-console-hosts-root:19000:0:99999:7:::\n")
    monkeypatch.setenv(DOOR_ARGV, json.dumps([str(secret) if w == "SECRET" else
                                              w.replace("SECRET", str(secret))
                                              for w in words]))
    monkeypatch.setenv("OPENLPM_HMC", "unix:/nowhere")
    monkeypatch.setenv("OPENLPM_TOKEN", "olpm_x")
    assert command(None) != 0
    err = capsys.readouterr().err
    assert "HSCLF827" in err
    assert "hash-of" not in err


def test_outside_the_door_a_file_is_still_read(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "user"
    data.write_text("taskrole=hmcviewer\n")
    assert mkhmcusr(["-f", str(data)]) != 0
    # Read, and found wanting (no name=): the command line's user reads its own files.
    assert "needs name=USER" in capsys.readouterr().err
