"""install-units: each service a systemd unit run by this Python, a private sample of
its configuration, and the Debian packages each role needs, from one list."""

from __future__ import annotations

import configparser
import stat
import sys
from pathlib import Path

import pytest

from openlpm.cli.main import main
from openlpm.errors import OpenLpmError
from openlpm.install import debian, units


def unit(role: str) -> configparser.ConfigParser:
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.read_string(units.unit_text(role, "/opt/openlpm/bin/python"))
    return parsed


@pytest.mark.parametrize("role", units.ROLES)
def test_a_unit_runs_its_service_with_the_interpreter_and_its_config(role: str) -> None:
    service = unit(role)["Service"]
    assert service["ExecStart"] == (f'"/opt/openlpm/bin/python" -m openlpm {role} serve '
                                    f"--config /etc/openlpm/{role}.toml")
    assert (service["Restart"], service["StandardOutput"]) == ("on-failure", "journal")
    assert "network-online.target" in unit(role)["Unit"]["After"]
    assert unit(role)["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("role", ["agent", "san"])
def test_stopping_the_agent_or_san_leaves_its_qemus_and_exports_running(role: str) -> None:
    assert unit(role)["Service"]["KillMode"] == "process"


@pytest.mark.parametrize("role", ["hmc", "mover"])
def test_the_other_services_stop_whole(role: str) -> None:
    assert "KillMode" not in unit(role)["Service"]


def test_the_agent_starts_after_its_mover() -> None:
    agent = unit("agent")["Unit"]
    assert "openlpm-mover.service" in agent["Wants"]
    assert "openlpm-mover.service" in agent["After"]


def test_install_units_writes_units_and_private_samples_under_root(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-units", "agent", "san", "--root", str(tmp_path)]) == 0
    agent = tmp_path / "etc/systemd/system/openlpm-agent.service"
    assert f'ExecStart="{sys.executable}" -m openlpm agent serve' in agent.read_text()
    assert stat.S_IMODE(agent.stat().st_mode) == 0o644
    sample = tmp_path / "etc/openlpm/san.toml"
    assert stat.S_IMODE(sample.stat().st_mode) == 0o600
    assert "#state-dir = " in sample.read_text()
    out = capsys.readouterr().out
    assert f"wrote {agent}" in out
    assert "systemctl enable --now openlpm-agent openlpm-san" in out
    assert "daemon-reload" not in out


def test_install_units_keeps_a_configuration_and_renews_the_unit(tmp_path: Path) -> None:
    config = tmp_path / "etc/openlpm/hmc.toml"
    config.parent.mkdir(parents=True)
    config.write_text('listen = "0.0.0.0:8480"\n')
    unit_file = tmp_path / "etc/systemd/system/openlpm-hmc.service"
    unit_file.parent.mkdir(parents=True)
    unit_file.write_text("old")
    done = units.install(["hmc"], tmp_path, {"hmc": "# sample"}, python="/usr/bin/python3")
    assert config.read_text() == 'listen = "0.0.0.0:8480"\n'
    assert done.kept_configs == [config]
    assert 'ExecStart="/usr/bin/python3" -m openlpm hmc serve' in unit_file.read_text()
    assert done.reloaded is None


def test_an_interpreter_path_with_spaces_quotes_and_percent_is_one_word_for_systemd(
        ) -> None:
    text = units.unit_text("hmc", '/opt/my env/100%\\"x"/bin/python')
    assert 'ExecStart="/opt/my env/100%%\\\\\\"x\\"/bin/python" -m openlpm' in text


@pytest.mark.parametrize("python", ["/opt/x\nExecStartPre=/bin/sh -c id/python",
                                    "/opt/$HOME/python", "/opt/x\r/python"])
def test_an_interpreter_path_a_unit_cannot_hold_is_refused(tmp_path: Path,
                                                           python: str) -> None:
    with pytest.raises(OpenLpmError) as refused:
        units.install(["hmc"], tmp_path, {"hmc": ""}, python=python)
    assert refused.value.code == "HSCLF708"
    assert not (tmp_path / units.UNIT_DIR).exists()


def test_a_configuration_that_is_a_link_is_kept_even_dangling(tmp_path: Path) -> None:
    config = tmp_path / units.CONFIG_DIR / "hmc.toml"
    config.parent.mkdir(parents=True)
    config.symlink_to(tmp_path / "elsewhere.toml")
    done = units.install(["hmc"], tmp_path, {"hmc": "# sample"}, python="/usr/bin/python3")
    assert done.kept_configs == [config]
    assert config.is_symlink() and not (tmp_path / "elsewhere.toml").exists()


def test_a_unit_replaces_a_link_at_its_path_and_leaves_no_temporary_file(
        tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("kept")
    unit_file = tmp_path / units.UNIT_DIR / "openlpm-hmc.service"
    unit_file.parent.mkdir(parents=True)
    unit_file.symlink_to(victim)
    units.install(["hmc"], tmp_path, {"hmc": ""}, python="/usr/bin/python3")
    assert victim.read_text() == "kept"
    assert not unit_file.is_symlink() and stat.S_IMODE(unit_file.stat().st_mode) == 0o644
    assert sorted(p.name for p in unit_file.parent.iterdir()) == ["openlpm-hmc.service"]


def test_install_units_under_another_root_never_reloads_systemd(tmp_path: Path) -> None:
    done = units.install(["mover"], tmp_path, {"mover": ""})
    assert done.reloaded is None


def test_a_root_that_cannot_be_written_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "etc").write_text("a file, not a directory")
    with pytest.raises(OpenLpmError) as refused:
        units.install(["mover"], tmp_path, {"mover": ""})
    assert refused.value.code == "HSCLF704"
    assert "openlpm-mover.service" in refused.value.message


def test_the_package_list_gives_each_package_its_roles() -> None:
    listed = debian.parse("# comment\n\nqemu-utils   agent,san  # qemu-img\n"
                          "chromium test\n")
    assert listed == (debian.DebianPackage("qemu-utils", frozenset({"agent", "san"}),
                                           "qemu-img"),
                      debian.DebianPackage("chromium", frozenset({"test"}), ""))


@pytest.mark.parametrize("line", ["qemu-utils", "qemu-utils agent,nowhere",
                                  "qemu-utils agent san"])
def test_a_package_line_without_known_roles_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="line 1"):
        debian.parse(line)


def test_the_shipped_list_covers_every_role() -> None:
    shipped = debian.packages()
    assert {role for package in shipped for role in package.roles} == debian.ROLES
    names = {package.name for package in debian.needed_by(["agent"])}
    assert {"qemu-system-x86", "qemu-utils", "ovmf", "python3"} <= names
    assert "chromium" not in names


def test_the_dev_script_installs_the_shipped_list() -> None:
    dev = (Path(__file__).resolve().parents[2] / "dev").read_text()
    assert "src/openlpm/install/debian-packages.txt" in dev
