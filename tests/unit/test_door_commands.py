"""Which command lines the SSH door runs: HMC commands, split as argv, never a shell."""

from __future__ import annotations

import pytest

from openlpm.hmc.door.commands import LINE_MAX, Refused, split
from openlpm.hmc.door.session import masked, shown_line


def refused(line: str) -> Refused:
    with pytest.raises(Refused) as caught:
        split(line)
    return caught.value


def test_an_hmc_command_line_is_split_as_a_shell_splits_words() -> None:
    assert split("migrlpar -o m -m A -t B -p 'my lpar'") == [
        "migrlpar", "-o", "m", "-m", "A", "-t", "B", "-p", "my lpar"]
    assert split('chsyscfg -r lpar -m A -i "name=p1,desired_mem=2048"') == [
        "chsyscfg", "-r", "lpar", "-m", "A", "-i", "name=p1,desired_mem=2048"]
    assert split('lssyscfg -r lpar -m A --filter \'"lpar_names=a,b"\'') == [
        "lssyscfg", "-r", "lpar", "-m", "A", "--filter", '"lpar_names=a,b"']
    assert split("   ") == []
    assert split("exit") == ["exit"]


@pytest.mark.parametrize("line", [
    "cat /etc/passwd", "bash", "bash -c id", "sh", "/usr/bin/lssyscfg -r sys",
    "./lssyscfg", "python3 -m openlpm", "openlpm lab down", "LSSYSCFG -r sys",
    "env lssyscfg", "exec bash", "x=1 lssyscfg"])
def test_a_command_outside_the_set_is_refused_with_127(line: str) -> None:
    error = refused(line)
    assert (error.code, error.status) == ("HSCLF823", 127)


@pytest.mark.parametrize("line", [
    "lssyscfg -r sys; id", "lssyscfg -r sys $(id)", "lssyscfg -r sys `id`",
    "lssyscfg -r sys | cat", "lssyscfg -r sys > /tmp/x", "lssyscfg -r sys < /etc/passwd",
    "lssyscfg -r sys & bash", "lssyscfg -r sys && bash", "lssyscfg --help; bash",
    "lssyscfg -r sys $HOME", 'lssyscfg -r sys "$(id)"', 'lssyscfg -r sys "`id`"',
    "lssyscfg -r sys\nbash", "lssyscfg -r sys\x00bash", "lssyscfg -r sys\rbash",
    "(bash)", "lssyscfg -r sys\x1b[2J"])
def test_what_a_shell_would_act_on_is_refused_with_2(line: str) -> None:
    error = refused(line)
    assert (error.code, error.status) == ("HSCLF821", 2)


def test_shell_characters_quoted_are_plain_characters() -> None:
    assert split("lssyscfg -r lpar -m A --filter 'lpar_names=a;b|c$(d)'")[-1] == \
        "lpar_names=a;b|c$(d)"
    assert split(r"lssyscfg -r sys \; x")[-2:] == [";", "x"]


def test_unbalanced_quotes_and_long_lines_are_refused() -> None:
    assert refused("lssyscfg -r 'sys").code == "HSCLF822"
    error = refused("lssyscfg " + "x" * LINE_MAX)
    assert (error.code, error.status) == ("HSCLF820", 2)


def test_an_unknown_command_is_named_printably_and_short() -> None:
    assert "\x07" not in str(refused("\u200bbash"))
    assert len(str(refused("y" * 5000))) < 400


def test_passwords_are_masked_in_what_the_audit_log_keeps() -> None:
    assert masked(["mkauthkeys", "--ip", "h2", "-u", "hscroot", "--passwd", "s3cret"]) == \
        "mkauthkeys --ip h2 -u hscroot --passwd ***"
    assert "pw1" not in masked(["mkhmcusr", "-i", "name=u,taskrole=hmcviewer,passwd=pw1"])
    assert masked(["chhmcusr", "-u", "u", "-t", "passwd", "-v", "pw2"]).endswith("-v ***")
    assert "pw3" not in shown_line("mkauthkeys --passwd pw3; id")
    assert "\n" not in shown_line("bash\nid")


@pytest.mark.parametrize("argv", [
    # argparse takes any unambiguous start of a long option, and -vP for -v P: the audit
    # log, which every viewer reads (lssvcevents), must not show the password either way.
    ["mkauthkeys", "--ip", "h2", "-u", "hscroot", "--pass", "pw4"],
    ["mkhmcusr", "-u", "bob", "-a", "hmcviewer", "--passw=pw4"],
    ["mksysconn", "--ip", "10.0.0.9", "--passwo", "pw4"],
    ["chhmcusr", "-u", "hscroot", "-t", "passwd", "-vpw4"],
    ["chhmcusr", "-u", "hscroot", "-t", "passwd", "-v=pw4"],
    # A quoted attribute may hold a comma: the whole value is the password.
    ["mkhmcusr", "-i", 'name=bob,"passwd=pw4,pw4",taskrole=hmcviewer'],
])
def test_a_password_however_spelled_is_masked(argv: list[str]) -> None:
    shown = masked(argv)
    assert "pw4" not in shown
    assert shown.startswith(argv[0])


def test_masking_keeps_what_is_not_a_password() -> None:
    assert masked(["mkhmcusr", "-i", "name=bob,passwd=x,taskrole=hmcviewer"]) == \
        "mkhmcusr -i name=bob,passwd=***,taskrole=hmcviewer"
    assert masked(["lssyscfg", "-r", "lpar", "-m", "sys1", "-v"]) == \
        "lssyscfg -r lpar -m sys1 -v"
    assert masked(["mksysconn", "--ip", "h", "--port", "8481"]) == \
        "mksysconn --ip h --port 8481"
