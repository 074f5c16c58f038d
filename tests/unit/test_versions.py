"""The version-skew rule: a console manages services of its own release series and of
the one before it, and refuses any other naming the service, both versions and what to
upgrade."""

from __future__ import annotations

import pytest

from openlpm.model import MoverInfo, SystemInfo
from openlpm.versions import UNREPORTED, managed_series, series, skew, system_skew


def test_a_series_is_major_and_minor() -> None:
    assert series("0.2.0") == "0.2"
    assert series("1.10.3rc1") == "1.10"
    assert series("0.2.0+local") == "0.2"


@pytest.mark.parametrize("service", ["0.2.0", "0.2.7", "0.1.0", "0.1.9"])
def test_a_console_manages_its_own_series_and_the_one_before(service: str) -> None:
    assert skew("Managed system sys1", service, "0.2.1") is None


def test_a_service_two_minors_older_is_refused_and_the_service_is_to_be_upgraded() -> None:
    refusal = skew("Managed system sys1", "0.1.4", "0.3.0")
    assert refusal is not None
    assert refusal.code == "HSCLF550"
    assert "Managed system sys1 runs openlpm 0.1.4" in refusal.message
    assert "0.3.0" in refusal.message
    assert "Upgrade Managed system sys1 to openlpm 0.3" in refusal.message


def test_a_service_newer_than_the_console_is_refused_and_the_console_is_to_be_upgraded() \
        -> None:
    refusal = skew("Managed system sys1", "0.3.0", "0.2.5")
    assert refusal is not None
    assert refusal.code == "HSCLF551"
    assert "newer than this console's 0.2.5" in refusal.message
    assert "Upgrade the console to 0.3" in refusal.message


def test_another_major_is_refused() -> None:
    refusal = skew("Managed system sys1", "1.0.0", "0.9.0")
    assert refusal is not None and refusal.code == "HSCLF551"
    assert managed_series("1.0.0") == ("1.0",)


def test_a_service_that_reports_no_version_runs_the_release_before_versions() -> None:
    assert UNREPORTED == "0.1.0"
    assert skew("Mover service msp1", "", "0.2.0") is None
    assert skew("Mover service msp1", None, "0.2.0") is None
    refusal = skew("Mover service msp1", "", "0.3.0")
    assert refusal is not None and "runs openlpm 0.1.0" in refusal.message


def _system(agent: str, mover: str) -> SystemInfo:
    return SystemInfo(name="sys1", cpus=4, memory_mb=4096, free_cpus=4, free_memory_mb=4096,
                      accel="tcg", qemu_version="7.2.0", agent_version=agent,
                      movers=(MoverInfo(name="msp1", control_url="https://m:8471",
                                        data_address="m:8472", version=mover),))


def test_a_system_is_refused_for_its_agent_or_for_one_of_its_movers() -> None:
    assert system_skew(_system("0.2.0", "0.1.0"), "0.2.0") is None
    by_agent = system_skew(_system("0.0.1", "0.2.0"), "0.2.0")
    assert by_agent is not None and "Managed system sys1" in by_agent.message
    by_mover = system_skew(_system("0.2.0", "0.4.0"), "0.2.0")
    assert by_mover is not None and by_mover.code == "HSCLF551"
    assert "Mover service msp1 of sys1" in by_mover.message
