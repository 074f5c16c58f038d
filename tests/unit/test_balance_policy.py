"""The balance policy file: pins and anti-affinity in TOML, and clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from openlpm.cli.balance import read_policy
from openlpm.errors import RequestInvalid


def test_pins_and_groups_kept_apart_are_read(tmp_path: Path) -> None:
    policy = tmp_path / "site.toml"
    policy.write_text('[[pin]]\npartition = "db1"\nsystem = "sys1"\n\n'
                      '[[apart]]\npartitions = ["web1", "web2"]\n')
    read = read_policy(policy)
    assert read.pins == {"db1": "sys1"} and read.apart == (("web1", "web2"),)


@pytest.mark.parametrize(("text", "says"), [
    ("[[pin]]\npartition = \"db1\"\n", "missing 'system'"),
    ("[[pinned]]\npartition = \"db1\"\n", "unknown table(s) pinned"),
    ("[[pin]\n", "not valid"),
])
def test_a_policy_file_that_is_wrong_says_what_and_how_to_write_it(
        tmp_path: Path, text: str, says: str) -> None:
    policy = tmp_path / "site.toml"
    policy.write_text(text)
    with pytest.raises(RequestInvalid) as refused:
        read_policy(policy)
    assert refused.value.code == "HSCLF020"
    assert says in refused.value.message and "[[pin]]" in refused.value.message


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RequestInvalid, match="cannot be read"):
        read_policy(tmp_path / "nowhere.toml")
