"""How validation findings are printed, at the HMC's detail levels (``-d 1..5``).

1. one line per finding: code, severity, the object it concerns (after the name of the
   console that found it, when a remote console checked its target), what is wrong;
2. (default) and under each, what to do about it;
3. and a summary line: verdict, migration kind, counts;
4. and every check that ran, with how many findings it gave;
5. and how long validation took.

``--nodetails`` leaves out the "what to do" lines at any level. Findings go to standard
error, like the HMC's messages; the summary, checks and time (levels 3 to 5) to standard
output.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from openlpm.states import Severity

if TYPE_CHECKING:
    from openlpm.clients.console_views import FindingView, ValidationReportView
    from openlpm.model import Finding, ValidationReport

DEFAULT_DETAIL = 2


def finding_lines(findings: Iterable[Finding | FindingView], detail: int = DEFAULT_DETAIL,
                  nodetails: bool = False) -> list[str]:
    lines = []
    for f in findings:
        where = f"{f.console}: {f.object}" if f.console else f.object
        lines.append(f"{f.code} {f.severity.capitalize()} [{where}]: {f.message}")
        if f.remedy and detail >= 2 and not nodetails:
            lines.append(f"    {f.remedy}")
    return lines


def summary_lines(report: ValidationReport | ValidationReportView, detail: int) -> list[str]:
    lines = []
    if detail >= 3:
        errors = sum(f.severity == Severity.ERROR for f in report.findings)
        kind = f"{report.kind.value} migration" if report.kind else "no migration possible"
        lines.append(f"Validation of {report.partition} from {report.source} to "
                     f"{report.target}: {'passed' if report.passed else 'failed'} ({kind}), "
                     f"{errors} error(s), {len(report.findings) - errors} warning(s).")
    if detail >= 4:
        for result in report.checks:
            outcome = "ok" if not result.found else f"{result.found} finding(s)"
            where = f" (on {result.console})" if result.console else ""
            lines.append(f"  check {result.check}{where}: {outcome} - {result.description}")
    if detail >= 5:
        lines.append(f"Validation took {report.elapsed_ms:.0f} ms "
                     f"({len(report.checks)} checks).")
    return lines
