"""A service's options come from its TOML file, and the command line overrides them."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

import pytest

from openlpm import config
from openlpm.agent.serve import vlan_list
from openlpm.cli.main import main, serve_parser
from openlpm.errors import RequestInvalid


def service_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openlpm agent serve")
    parser.add_argument("--name", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--accel", choices=["kvm", "tcg"], default="tcg")
    parser.add_argument("--vlans", type=vlan_list, default=None)
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--allow-dir", type=Path, action="append", dest="allow_dirs")
    return parser


def configured(tmp_path: Path, text: str, *argv: str) -> argparse.Namespace:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    path.chmod(0o600)
    parser = service_parser()
    config.apply(parser, path)
    return parser.parse_args(list(argv))


def test_the_file_gives_the_options_through_their_types(tmp_path: Path) -> None:
    args = configured(tmp_path, 'name = "sys1"\nstate-dir = "/var/lib/openlpm/agent"\n'
                                'cpus = 8\naccel = "kvm"\nvlans = "20,10"\ninsecure = true\n'
                                'allow-dir = ["/srv/a", "/srv/b"]\n')
    assert (args.name, args.state_dir, args.cpus, args.accel) == (
        "sys1", Path("/var/lib/openlpm/agent"), 8, "kvm")
    assert args.vlans == (10, 20)
    assert args.insecure is True
    assert args.allow_dirs == [Path("/srv/a"), Path("/srv/b")]


def test_a_list_for_a_single_option_is_its_comma_separated_text(tmp_path: Path) -> None:
    args = configured(tmp_path, 'name = "s"\nstate-dir = "/s"\nvlans = [30, 10]\n')
    assert args.vlans == (10, 30)


def test_a_flag_on_the_command_line_overrides_the_file(tmp_path: Path) -> None:
    args = configured(tmp_path, 'name = "sys1"\nstate-dir = "/s"\ncpus = 8\n',
                      "--cpus", "2", "--name", "sys2")
    assert (args.name, args.cpus, args.state_dir) == ("sys2", 2, Path("/s"))


def test_an_option_the_file_gives_is_no_longer_required(tmp_path: Path) -> None:
    args = configured(tmp_path, 'state-dir = "/s"\n', "--name", "sys1")
    assert args.state_dir == Path("/s")


def test_an_option_neither_gives_is_still_required_by_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        configured(tmp_path, 'state-dir = "/s"\n')
    assert "--name" in capsys.readouterr().err


def test_a_key_that_is_no_option_is_refused_with_the_valid_keys(tmp_path: Path) -> None:
    with pytest.raises(RequestInvalid) as refused:
        configured(tmp_path, 'name = "s"\nstate_dir = "/s"\n')
    assert refused.value.code == "HSCLF702"
    assert "agent.toml" in refused.value.message and "'state_dir'" in refused.value.message
    assert "state-dir" in refused.value.message


@pytest.mark.parametrize("text", ['cpus = "many"', 'accel = "xen"', "vlans = [5000]",
                                  'insecure = "yes"', "cpus = true", "cpus = {a = 1}"])
def test_a_value_the_option_does_not_take_is_refused_naming_the_key(
        tmp_path: Path, text: str) -> None:
    with pytest.raises(RequestInvalid) as refused:
        configured(tmp_path, f'name = "s"\n{text}\n')
    assert refused.value.code == "HSCLF703"
    assert text.split(" ")[0] in refused.value.message


def test_a_file_that_is_not_toml_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(RequestInvalid) as refused:
        configured(tmp_path, 'name = "s"\nstate-dir /s\n')
    assert refused.value.code == "HSCLF701"
    assert "line 2" in refused.value.message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RequestInvalid) as refused:
        config.apply(service_parser(), tmp_path / "absent.toml")
    assert refused.value.code == "HSCLF701"


@pytest.mark.parametrize("unsafe", ["group-writable file", "world-writable file",
                                    "file of another user", "world-writable directory"])
def test_a_file_someone_else_may_change_is_refused(tmp_path: Path, unsafe: str) -> None:
    directory = tmp_path / "etc"
    directory.mkdir(mode=0o755)
    path = directory / "agent.toml"
    path.write_text('name = "s"\n')
    path.chmod(0o600)
    if unsafe == "group-writable file":
        path.chmod(0o620)
    elif unsafe == "world-writable file":
        path.chmod(0o602)
    elif unsafe == "file of another user":
        os.chown(path, 65534, 65534)
    else:
        directory.chmod(0o777)
    with pytest.raises(RequestInvalid) as refused:
        config.apply(service_parser(), path)
    assert refused.value.code == "HSCLF705" and "go-w" in refused.value.message


def test_dev_null_reads_no_file() -> None:
    args = service_parser()
    config.apply(args, Path("/dev/null"))
    assert args.parse_args(["--name", "s", "--state-dir", "/s"]).cpus == 1


def test_the_file_is_the_one_given_else_the_roles_default_when_it_exists(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "CONFIG_DIR", tmp_path)
    assert config.chosen_file(["--name", "x"], "agent") is None
    (tmp_path / "agent.toml").write_text("")
    assert config.chosen_file(["--name", "x"], "agent") == tmp_path / "agent.toml"
    assert config.chosen_file(["--config=/etc/a.toml"], "agent") == Path("/etc/a.toml")
    assert config.chosen_file(["--config", "/etc/b.toml"], "agent") == Path("/etc/b.toml")


@pytest.mark.parametrize("role", ["hmc", "agent", "mover", "san"])
def test_each_services_sample_names_every_option_and_sets_none(role: str) -> None:
    parser = serve_parser(role)
    text = config.sample(parser, role)
    assert tomllib.loads(text) == {}
    uncommented = tomllib.loads("\n".join(
        line[1:] for line in text.splitlines() if line.startswith("#") and " = " in line
        and not line.startswith("# ")))
    assert set(uncommented) == set(config.keyed_options(parser))


def test_the_agent_sample_filled_in_starts_an_agent(tmp_path: Path) -> None:
    """Every required option uncommented with a value gives a complete agent."""
    parser = serve_parser("agent")
    path = tmp_path / "agent.toml"
    path.write_text('name = "sys1"\nlisten = "10.0.0.1:8470"\nstate-dir = "/var/lib/a"\n'
                    'cpus = 4\nmemory-mb = 4096\naccel = "kvm"\n')
    config.apply(parser, path)
    args = parser.parse_args([])
    assert (args.name, args.cpus, args.kernel, args.kernel_args) == ("sys1", 4, None, "")


def test_a_service_with_a_wrong_file_does_not_start_and_says_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mover.toml"
    path.write_text('name = "m1"\nchannels = 4\n')
    assert main(["mover", "serve", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("HSCLF702 ") and "max-migrations" in error


def test_a_rendered_file_gives_back_the_options_it_was_rendered_from(tmp_path: Path) -> None:
    text = config.render({"name": 'sys "1"\n', "state-dir": "/var/lib/openlpm/agent",
                          "cpus": 4, "insecure": True, "vlans": "10,20",
                          "allow-dir": ["/srv/a b"]})
    args = configured(tmp_path, text)
    assert (args.name, args.state_dir, args.cpus, args.insecure, args.vlans) == (
        'sys "1"\n', Path("/var/lib/openlpm/agent"), 4, True, (10, 20))
    assert args.allow_dirs == [Path("/srv/a b")]


def test_rendering_refuses_a_key_that_is_no_option_name() -> None:
    with pytest.raises(ValueError):
        config.render({"name = \"x\"\ninsecure": True})
