"""migrlpar's quick path (cli/migrlpar.py: -o v and m on the standard library) prints
what the path on httpx and pydantic (commands.py) prints, byte for byte, exits with the
same status, and sends the console the same requests and bodies: each case runs both
against one scripted console."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from openlpm.cli import commands
from openlpm.cli import migrlpar as quick
from openlpm.cli.migration_input import (
    MAX_IO_SERVICES,
    PROFILE_NAME,
    _plain_body,
    migration_fields,
    request_body,
)
from openlpm.cli.steps import PlainLines
from openlpm.errors import ValidationFailed
from openlpm.model import (
    MAX_IO_SERVICES as MODEL_MAX_IO_SERVICES,
)
from openlpm.model import (
    PROFILE_NAME_PATTERN,
    CheckResult,
    Finding,
    JournalEntry,
    MigrationKind,
    MigrationRecord,
    MigrationRound,
    MigrationState,
    MigrationStep,
    Partition,
    PartitionProfile,
    PartitionState,
    PartitionSummary,
    Severity,
    ValidationReport,
)
from tests.unit.console_http import Answer, serving

WARNING = Finding(severity=Severity.WARNING, code="HSCLF420", object="sys2",
                  message="Managed system sys2 has one I/O service.",
                  remedy="Add an I/O service to sys2, or accept one path.")
ERROR = Finding(severity=Severity.ERROR, code="HSCLF189", object="sys2",
                message="Managed system sys2 has 100 MB memory available.",
                remedy="Free memory on sys2 or choose another target.")
CHECKS = (CheckResult(check="memory_available", description="Memory is free.", found=1),
          CheckResult(check="page_size_same", description="Same pages.", found=0))


def report(*findings: Finding, partition: str = "p1") -> Answer:
    return Answer.json(ValidationReport(
        partition=partition, source="sys1", target="sys2", kind=MigrationKind.ACTIVE,
        findings=findings, checks=CHECKS, elapsed_ms=41.5).model_dump(mode="json"))


def record(state: MigrationState = MigrationState.IN_PROGRESS,
           step: MigrationStep | None = None, **fields: object) -> MigrationRecord:
    values: dict[str, object] = dict(
        id="m-1", partition="p1", source="sys1", target="sys2", kind=MigrationKind.ACTIVE,
        state=state, step=step, started=1765000000.25)
    return MigrationRecord.model_validate(values | fields)


def migration(*records: MigrationRecord, first: MigrationRecord | None = None,
              journal: Sequence[JournalEntry] = ()) -> dict[str, Answer]:
    started = first or record(MigrationState.STARTING, warnings=(WARNING,))
    return {"POST /migrations": Answer.json(started.model_dump(mode="json")),
            "/migrations/m-1/events": Answer.events([r.model_dump_json() for r in records]),
            "/migrations/m-1/journal": Answer.json(
                [e.model_dump(mode="json") for e in journal])}


MIB = 2**20
ROUNDS = (MigrationRound(number=1, dirty_rate_pps=1200.4, transferred=300 * MIB,
                         remaining=40 * MIB, downtime_limit_ms=300),
          MigrationRound(number=2, dirty_rate_pps=800.0, transferred=340 * MIB,
                         remaining=2 * MIB, downtime_limit_ms=400, throttle_pct=20))
COMPLETE = record(MigrationState.COMPLETE, MigrationStep.PROFILE_OFF_SOURCE,
                  ended=1765000003.5, downtime_ms=41, bytes_transmitted=342 * MIB,
                  encrypted=True, source_msp_name="sys1-msp1", dest_msp_name="sys2-msp1",
                  rounds=ROUNDS)
STEPS = (record(step=MigrationStep.PROFILE_TO_TARGET),
         record(step=MigrationStep.MIGRATE, step_phase="a: pre-copy",
                bytes_transmitted=100 * MIB,
                bytes_remaining=242 * MIB, rate_bps=110 * MIB),
         record(step=MigrationStep.MIGRATE, step_phase="switch-over",
                bytes_transmitted=342 * MIB, rate_bps=112 * MIB),
         record(step=MigrationStep.RESUME_ON_TARGET))
JOURNAL = (JournalEntry(migration_id="m-1", at=1765000000.5, step=None, phase="begin",
                        detail=""),
           JournalEntry(migration_id="m-1", at=1765000001.125,
                        step=MigrationStep.PROFILE_TO_TARGET, phase="done",
                        detail="lpar_id 3"))
REFUSED = Answer.json(ValidationFailed(
    "Migration of p1 to sys2 refused: 1 error(s).", code="HSCLF105",
    details={"findings": [ERROR.model_dump(mode="json")]}).to_wire(), 409)
SUMMARY = PartitionSummary(system="sys1", partition=Partition(
    profile=PartitionProfile(name="p2", lpar_id=2, min_mem=256, desired_mem=256,
                             max_mem=256, min_procs=1, desired_procs=1, max_procs=1),
    state=PartitionState.RUNNING))


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES",
                 "OPENLPM_ARGV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENLPM_TOKEN", "olpm_t")


def both(argv: list[str], answers: dict[str, Answer], capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """The status, output and errors of both paths, which must be the same, as must
    what the console was asked and sent."""
    results = []
    for command in (commands.migrlpar, quick.migrlpar):
        with serving(answers) as (url, seen):
            monkeypatch.setenv("OPENLPM_HMC", url)
            status = command(argv)
            out, err = capsys.readouterr()
        results.append((status, out, err, [path for path, _ in seen.requests], seen.bodies))
    assert results[1] == results[0]
    return results[1][:3]


VALIDATE = ["-o", "v", "-m", "sys1", "-t", "sys2", "-p", "p1"]
MIGRATE = ["-o", "m", "-m", "sys1", "-t", "sys2", "-p", "p1"]


@pytest.mark.parametrize("extra", [[], ["-d", "1"], ["-d", "5"], ["-v"], ["--nodetails"],
                                   ["-d", "4", "--nodetails"]])
def test_a_validation_that_passes_prints_the_same(
        extra: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    status, _, err = both([*VALIDATE, *extra], {"POST /validations": report(WARNING)},
                          capsys, monkeypatch)
    assert status == 0 and "HSCLF420 Warning [sys2]" in err


def test_a_validation_that_fails_exits_6_as_before(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, _ = both([*VALIDATE, "-d", "5"], {"POST /validations": report(ERROR)},
                          capsys, monkeypatch)
    assert status == 6 and "failed (active migration), 1 error(s)" in out


def test_several_partitions_and_all_of_them_validate_alike(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"POST /validations": report(),
               "/systems/sys1/partitions?mobile=true": Answer.json(
                   [SUMMARY.model_dump(mode="json")])}
    assert both(["-o", "v", "-m", "sys1", "-t", "sys2", "-p", "p1,p2", "-v"], answers,
                capsys, monkeypatch)[0] == 0
    assert both(["-o", "v", "-m", "sys1", "-t", "sys2", "--all"], answers, capsys,
                monkeypatch)[0] == 0
    assert both(["-o", "v", "-m", "sys1", "-t", "sys2", "-p", ","], answers, capsys,
                monkeypatch)[1] == "No results were found.\n"


@pytest.mark.parametrize("extra", [[], ["-v"], ["-d", "1", "--nodetails"]])
def test_a_migration_prints_its_steps_summary_journal_and_passes_the_same(
        extra: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, err = both([*MIGRATE, *extra], migration(*STEPS, COMPLETE, journal=JOURNAL),
                            capsys, monkeypatch)
    assert status == 0
    assert "step 4/7 Migrate (a: pre-copy)  100 MiB sent, 242 MiB remaining, 110 MiB/s" in err
    assert "step 6/7 Storage off source" in err
    assert ("pass 2:" in out) == ("-v" in extra)


def test_a_migration_that_fails_prints_its_summary_and_error_the_same(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    failed = record(MigrationState.FAILED, MigrationStep.MIGRATE, ended=1765000002.0,
                    error_code="HSCLF301", error_message="The stream to sys2 was lost.")
    status, out, err = both(MIGRATE, migration(STEPS[0], failed), capsys, monkeypatch)
    assert status == 10 and "Migration Failed in 1.8 s" in out
    assert err.endswith("HSCLF301 The stream to sys2 was lost.\n")


def test_a_migration_refused_by_validation_prints_its_findings_the_same(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    status, _, err = both(MIGRATE, {"POST /migrations": REFUSED}, capsys, monkeypatch)
    assert status == 6 and "HSCLF189 Error [sys2]" in err


def test_an_inactive_migration_and_one_left_running_print_the_same(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    inactive = [record(step=MigrationStep.PROFILE_TO_TARGET, kind=MigrationKind.INACTIVE),
                record(MigrationState.COMPLETE, MigrationStep.PROFILE_OFF_SOURCE,
                       kind=MigrationKind.INACTIVE, ended=1765000001.0)]
    assert both([*MIGRATE, "-v"], migration(*inactive), capsys, monkeypatch)[0] == 0
    status, out, _ = both([*MIGRATE, "--async"], migration(), capsys, monkeypatch)
    assert (status, out) == (0, "migration m-1 of p1 started\n")


def test_a_phase_rich_would_not_print_as_written_goes_through_rich(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    odd = record(step=MigrationStep.MIGRATE, step_phase="[bold]pause:smile: é " + "x" * 80)
    assert both(MIGRATE, migration(odd, COMPLETE), capsys, monkeypatch)[0] == 0


@pytest.mark.parametrize("extra", [
    ["-i", "dest_lpar_id=7,source_msp_name=msp1,dest_msp_id=1,streams=4,compression=zstd,"
           "convergence=postcopy,max_downtime_ms=500,dest_msp_ipaddr=198.18.0.12,"
           '"virtual_fc_mappings=4//2,5/vios1/",vlan_mappings=525400AABBCC/20'],
    ["-n", "moved", "-w", "5", "--vlanbridge", "2", "--mpio", "1", "--redundantvios", "0",
     "--npivval", "portdisk", "--ip", "hmc2", "-u", "ops"],
    ["-i", "dest_lpar_id=+7,streams= 2"],  # pydantic's reading of such numbers
])
def test_the_console_gets_the_same_body(extra: list[str], capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert both([*VALIDATE, *extra], {"POST /validations": report()}, capsys,
                monkeypatch)[0] == 0


@pytest.mark.parametrize("extra", [
    ["-i", "dest_lpar_id=0"], ["-i", "dest_lpar_id=x"], ["-i", "streams=17"],
    ["-i", "compression=gzip"], ["-i", "convergence=fast"], ["-i", "max_downtime_ms=5"],
    ["-i", "source_msp_id=0"], ["-i", "virtual_scsi_mappings=1//1"],
    ["-i", "virtual_fc_mappings=4//10"], ["-n", "a name that is far too long for a profile"],
    ["-w", "-1"], ["-w", "nan"], ["-w", "0"], ["--redundantmsps", "1"], ["-i", "nosuch=1"],
    ["-i", "vlan_mappings=5254/1"], ["-i", "shared_proc_pool_id=3"], ["-i", '"a=b'],
    ["--id", "x"], ["-d", "9"],
])
def test_bad_input_is_refused_with_the_same_code_message_and_status(
        extra: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    argv = [w for w in VALIDATE if w not in ("-p", "p1")] if extra[0] == "--id" \
        else VALIDATE
    status, _, err = both([*argv, *extra], {"POST /validations": report()}, capsys,
                          monkeypatch)
    assert status == 2 and err.startswith("HSCLF0"), err


def test_without_a_partition_or_a_target_the_same_is_said(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert both(["-o", "m", "-m", "sys1", "-t", "sys2"], {}, capsys, monkeypatch)[0] == 2
    assert both(["-o", "v", "-m", "sys1", "-p", "p1"], {}, capsys, monkeypatch)[0] == 2


def test_stop_recover_and_set_take_the_path_on_httpx(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert both(["-o", "s", "-m", "sys1", "--all"], {}, capsys, monkeypatch)[0] == 2
    assert both(["-o", "set", "-r", "lpar", "-m", "sys1"], {}, capsys, monkeypatch)[0] == 2


def test_the_quick_body_is_pydantic_s_or_left_to_it() -> None:
    args = commands.migrlpar_parser().parse_args(
        [*VALIDATE, "-w", "2.5", "-i", "streams=3,virtual_scsi_mappings=3//2"])
    (fields,) = migration_fields(args, [])
    expected = commands.validated(fields).model_dump(mode="json")
    body = _plain_body(fields)
    assert body is not None and list(body) == list(expected)
    assert json.dumps(body) == json.dumps(expected)
    for doubtful in ({"streams": "03 "}, {"wait_minutes": float("inf")},
                     {"dest_lpar_id": True}, {"dest_profile_name": "bad\n"}):
        assert _plain_body(fields | doubtful) is None
    assert request_body(fields | {"streams": "03 "})["streams"] == 3


def test_the_quick_checks_keep_the_model_s_rules() -> None:
    assert MAX_IO_SERVICES == MODEL_MAX_IO_SERVICES
    assert f"^{PROFILE_NAME.pattern}$" == PROFILE_NAME_PATTERN


def test_rich_writes_a_line_it_leaves_unchanged_as_written() -> None:
    import io
    import random
    import string

    from rich.console import Console

    def by_rich(line: str) -> str:
        written = io.StringIO()
        Console(file=written, width=80).print(line, highlight=False)
        return written.getvalue()

    for line in ("step 4/7 Migrate (a: pre-copy)  1 MiB sent, 0 MiB remaining, 3 MiB/s",
                 "step 1/7 Profile to target", "a  b", "x" * 80, "a: b: c"):
        assert PlainLines.unchanged_by_rich(line, 80)
        assert by_rich(line) == line + "\n"
    for line in ("x" * 81, "[b]x", "a:smile:", "a::b", " x", "x ", "é", "a\tb", ""):
        assert not PlainLines.unchanged_by_rich(line, 80)
    shuffle = random.Random(21)
    lines = ["".join(shuffle.choice(string.printable[:95] + "   :")
                     for _ in range(shuffle.randint(1, 90))) for _ in range(3000)]
    for line in lines:
        if PlainLines.unchanged_by_rich(line, 80):
            assert by_rich(line) == line + "\n", line


@pytest.mark.parametrize(("url", "through_httpx"), [
    ("http://127.0.0.1:1", True), ("unix:/nowhere", False)])
def test_with_a_proxy_named_migrlpar_asks_through_httpx(
        url: str, through_httpx: bool, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """As httpx's trust_env routes HmcClient's requests (the console's private socket,
    the SSH door's, never)."""
    from openlpm.cli import hmc_command

    taken: list[str] = []
    monkeypatch.setattr(hmc_command, "run_parsed", lambda command, args: taken.append(
        args.operation) or 0)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("OPENLPM_HMC", url)
    status = quick.migrlpar(VALIDATE)
    assert (taken == ["v"]) == through_httpx
    assert status == (0 if through_httpx else 8)


def test_a_console_lost_while_following_is_a_system_unreachable(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # A killed console's connection may read as the stream's end to http.client: a
    # stream that stops before the finished record means the console is gone (exit 8,
    # as the httpx path gives for a body cut short), not a failed migration (10).
    with serving(migration(*STEPS[:2])) as (url, _):
        monkeypatch.setenv("OPENLPM_HMC", url)
        status = quick.migrlpar(MIGRATE)
    err = capsys.readouterr().err
    assert status == 8
    assert "Lost the HMC" in err and "ended before the migration did" in err
