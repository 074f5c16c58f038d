"""migrlpar prints findings at the HMC's detail levels, -d 1 to 5, and --nodetails."""

from __future__ import annotations

from openlpm.cli.findings import finding_lines, summary_lines
from openlpm.model import CheckResult, Finding, MigrationKind, Severity, ValidationReport

SHORT = Finding(severity=Severity.ERROR, code="HSCLF189", object="sys2",
                message="Managed system sys2 has 100 MB memory available.",
                remedy="Free memory on sys2 or choose another target.")
REPORT = ValidationReport(
    partition="p1", source="sys1", target="sys2", kind=MigrationKind.ACTIVE,
    findings=(SHORT,), elapsed_ms=41.5,
    checks=(CheckResult(check="memory_available", description="Memory is free.", found=1),
            CheckResult(check="page_size_same", description="Same pages.", found=0)))


def test_level_1_prints_one_line_per_finding() -> None:
    assert finding_lines([SHORT], 1) == [
        "HSCLF189 Error [sys2]: Managed system sys2 has 100 MB memory available."]


def test_the_default_level_adds_what_to_do_under_each_finding() -> None:
    assert finding_lines([SHORT])[1] == "    Free memory on sys2 or choose another target."


def test_nodetails_leaves_out_what_to_do_at_any_level() -> None:
    assert len(finding_lines([SHORT], 5, nodetails=True)) == 1


def test_levels_3_to_5_add_the_verdict_the_checks_and_the_time() -> None:
    assert summary_lines(REPORT, 2) == []
    assert summary_lines(REPORT, 3) == [
        "Validation of p1 from sys1 to sys2: failed (active migration), 1 error(s), "
        "0 warning(s)."]
    level4 = summary_lines(REPORT, 4)
    assert "  check memory_available: 1 finding(s) - Memory is free." in level4
    assert "  check page_size_same: ok - Same pages." in level4
    assert summary_lines(REPORT, 5)[-1] == "Validation took 42 ms (2 checks)."
