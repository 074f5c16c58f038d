"""Migration across consoles: two HMCs, each managing its own system, keys exchanged with
mkauthkeys, partitions moved with migrlpar --ip/-u, and every refusal on the way.

The lab's first console (hmca, at 198.18.0.2 for other consoles) manages sys1, the second
(hmcb, at 198.18.0.5) manages sys2; both are on the same lab network and SAN.
"""

from __future__ import annotations

import subprocess
import time

from openlpm.authority import fingerprint
from openlpm.lab import site
from tests.integration.conftest import BIN, Lab, chromium

LAB_SPEC = {"hmc_name": "hmca", "remote_hmc": "hmcb"}
HMCA, HMCB = "198.18.0.2", "198.18.0.5"
PROFILE = ("name={name},min_mem=128,desired_mem={mem},max_mem=512,min_procs=1,"
           "desired_procs=1,max_procs=1")


def remote(lab: Lab) -> dict[str, str]:
    """The environment of commands run on the second console (hmcb), as its hscroot."""
    return site.client_env(lab.state, lab.state.remote_hmc_url)


def password(lab: Lab, console: str = "") -> str:
    return site.admin_password_file(lab.state.prefix, console).read_text()


def start(lab: Lab, name: str, mem: int = 256) -> str:
    """A running partition on sys1 (hmca); returns its boot id."""
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", PROFILE.format(name=name, mem=mem))
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", name)
    return lab.wait_ticks("sys1", name, more_than=1)[-1][2]


def staying(lab: Lab) -> None:
    """Partition stay runs on sys1: the refusals must leave it there."""
    if "stay:Running" not in names(lab, "sys1"):
        start(lab, "stay")


def names(lab: Lab, system: str, env: dict[str, str] | None = None) -> list[str]:
    out = lab.run("lssyscfg", "-r", "lpar", "-m", system, "-F", "name:state", env=env,
                  check=False)
    return out.stdout.splitlines()


def audit(lab: Lab, env: dict[str, str] | None = None) -> list[str]:
    return lab.run("lssvcevents", "-t", "console", "-i", "30", "-F",
                   "user:text:result:code", env=env).stdout.splitlines()


def refused(lab: Lab, *argv: str, code: str, status: int, stdin: str = "") -> str:
    result = lab.run(*argv, check=False, stdin=stdin)
    assert result.returncode == status, result.stdout + result.stderr
    assert code in result.stderr, result.stderr
    return result.stderr


def test_without_keys_exchanged_a_remote_migration_is_refused_and_nothing_changes(
        lab: Lab) -> None:
    staying(lab)
    message = refused(lab, "migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p",
                      "stay", "--ip", HMCB, "-u", "hscroot", code="HSCLF520", status=3)
    assert f"mkauthkeys --ip {HMCB}" in message
    assert names(lab, "sys1") == ["stay:Running"]
    assert "hscroot:POST /migrations:failed:HSCLF520" in audit(lab)


def test_keys_are_exchanged_only_with_the_remote_user_s_password(lab: Lab) -> None:
    # As the HMC (IBM's Ansible collection looks for it): no keys for hmcb yet.
    refused(lab, "mkauthkeys", "--ip", HMCB, "--test", code="HSCL3653", status=3)
    refused(lab, "mkauthkeys", "--ip", HMCB, "-u", "hscroot", stdin="not-the-password\n",
            code="HSCLF501", status=11)
    assert lab.values("lsauthkeys", "--remote", "-F", "name") == ["No results were found."]
    assert "hscroot:sign in:refused:HSCLF501" in audit(lab, remote(lab))

    # A certificate other than the one --fingerprint names: no password is sent.
    certificate = site.console_certificate(lab.state, lab.state.remote_hmc_url).read_text()
    sign_ins = [line for line in audit(lab, remote(lab)) if ":sign in:" in line]
    message = refused(lab, "mkauthkeys", "--ip", HMCB, "-u", "hscroot", "--fingerprint",
                      "AB:" * 31 + "AB", stdin=password(lab, "hmcb"), code="HSCLF528",
                      status=8)
    assert fingerprint(certificate) in message
    assert lab.values("lsauthkeys", "--remote", "-F", "name") == ["No results were found."]
    assert [line for line in audit(lab, remote(lab)) if ":sign in:" in line] == sign_ins

    out = lab.run("mkauthkeys", "--ip", HMCB, "-u", "hscroot", "--fingerprint",
                  fingerprint(certificate).replace(":", "").lower(),
                  stdin=password(lab, "hmcb")).stdout
    assert "keys exchanged with console hmcb" in out
    # --test: the signed-in user's own name (hscroot) by default, a call made through
    # the keys; quiet and exit 0.
    assert lab.run("mkauthkeys", "--ip", HMCB, "--test").stdout == ""
    lab.run("mkauthkeys", "--ip", "hmcb", "-u", "hscroot", "--test")
    refused(lab, "mkauthkeys", "--ip", HMCB, "-u", "nobody", "--test", code="HSCL3653",
            status=3)
    # Over HTTPS, trusting from now on the certificate hmcb answered with.
    assert lab.values("lsauthkeys", "--remote", "-F", "name,url,user,certificate") == [
        f"hmcb,https://{HMCB}:8480,hscroot,{fingerprint(certificate)}"]
    assert "hscroot:POST /peer/trust:done:null" in audit(lab, remote(lab))
    # The password went on standard input: it is in no log of either console.
    logs = site.LabState.directory(lab.state.prefix) / "logs"
    assert all(password(lab, "hmcb").strip() not in p.read_text(errors="replace")
               for p in logs.iterdir())


def test_a_running_partition_moves_to_the_other_console_s_system_and_back(lab: Lab) -> None:
    boot = start(lab, "web1")
    lab.run("mkauthkeys", "--ip", HMCB, "-u", "hscroot", stdin=password(lab, "hmcb"))

    report = lab.run("migrlpar", "-o", "v", "-m", "sys1", "-t", "sys2", "-p", "web1",
                     "--ip", "hmcb", "-u", "hscroot", "-d", "4").stdout
    assert "passed (active migration)" in report
    # Both consoles checked their side: the target's checks ran on hmcb.
    assert "check memory_available (on hmcb): ok" in report
    assert "check guest_consents: ok" in report

    lab.run("migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p", "web1", "--ip", "hmcb",
            "-u", "hscroot")
    ticks = lab.wait_ticks("sys2", "web1", more_than=3, received_on="sys2", env=remote(lab))
    lab.assert_kept_running("sys2", "web1", ticks, boot, env=remote(lab))
    assert "web1:Running" not in names(lab, "sys1")
    assert "web1:Running" in names(lab, "sys2", remote(lab))
    # Each console keeps the migration and its result, and names the other console.
    ours = lab.values("lslparmigr", "-r", "migr", "-m", "sys1", "-F",
                      "name:migration_state:dest_hmc")
    theirs = lab.run("lslparmigr", "-r", "migr", "-m", "sys2", "-F",
                     "name:migration_state:driven_by_hmc", env=remote(lab)).stdout
    assert "web1:Migration Complete:hmcb" in ours
    assert "web1:Migration Complete:hmca" in theirs.splitlines()
    assert "hscroot:POST /peer/systems/sys2/agent/partitions:done:null" in audit(
        lab, remote(lab))

    # Back again, driven by hmcb with its own keys for hmca.
    lab.run("mkauthkeys", "--ip", HMCA, "-u", "hscroot", stdin=password(lab), env=remote(lab))
    lab.run("migrlpar", "-o", "m", "-m", "sys2", "-t", "sys1", "-p", "web1", "--ip", "hmca",
            env=remote(lab))
    ticks = lab.wait_ticks("sys1", "web1", more_than=len(ticks) + 2, received_on="sys1")
    lab.assert_one_boot("sys1", "web1", ticks, boot)
    assert "web1:Running" in names(lab, "sys1")
    assert "web1" not in " ".join(names(lab, "sys2", remote(lab)))


def test_both_consoles_show_the_migration_while_it_runs(lab: Lab) -> None:
    start(lab, "busy1", mem=512)
    with lab.slow_link("80mbit", "sys1"):
        lab.run("migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p", "busy1", "--ip",
                "hmcb", "--async")
        seen_here = seen_there = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (seen_here and seen_there):
            seen_here = seen_here or _migrating(lab, "sys1", "busy1", None)
            seen_there = seen_there or _migrating(lab, "sys2", "busy1", remote(lab))
            time.sleep(0.2)
    assert seen_here.startswith("Migration In Progress step"), seen_here
    assert seen_there.startswith("Migration In Progress step"), seen_there
    _wait_complete(lab, "busy1")


def _migrating(lab: Lab, system: str, partition: str, env: dict[str, str] | None) -> str:
    out = lab.run("lslparmigr", "-r", "lpar", "-m", system, "-F",
                  "name:migration_state:migration_step", env=env, check=False).stdout
    for line in out.splitlines():
        name, state, step = line.split(":")
        if name == partition and state != "Not Migrating" and step != "null":
            return f"{state} step {step}"
    return ""


def _wait_complete(lab: Lab, partition: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = lab.values("lslparmigr", "-r", "migr", "-m", "sys1", "-F",
                            "name:migration_state")
        if f"{partition}:Migration Complete" in states:
            return
        time.sleep(0.5)
    raise AssertionError(f"the migration of {partition} did not complete: {states}")


def test_the_other_console_s_systems_and_mover_pairs_are_listed_with_its_keys(
        lab: Lab) -> None:
    lab.run("mkauthkeys", "--ip", HMCB, "-u", "hscroot", stdin=password(lab, "hmcb"))
    assert lab.api("/remote-systems?ip=hmcb&user=hscroot") == ["sys2"]
    pairs = lab.values("lslparmigr", "-r", "msp", "-m", "sys1", "-t", "sys2", "--ip", "hmcb",
                       "-u", "hscroot", "-F", "source_msp_name:dest_msp_name:usable")
    assert pairs == ["sys1-msp1:sys2-msp1:1"]
    refused(lab, "lslparmigr", "-r", "lpar", "-m", "sys1", "--ip", "hmcb",
            code="HSCLF523", status=2)
    refused(lab, "lslparmigr", "-r", "msp", "-m", "sys1", "-t", "sys2", "--ip", "hmcb",
            "-u", "nobody", code="HSCLF521", status=3)


def test_the_web_console_validates_a_migration_to_the_other_console_s_system(
        lab: Lab) -> None:
    staying(lab)
    lab.run("mkauthkeys", "--ip", HMCB, "-u", "hscroot", stdin=password(lab, "hmcb"))
    with chromium() as browser:
        context = browser.new_context(ignore_https_errors=True)  # type: ignore[attr-defined]
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{lab.state.hmc_url}/")
        page.get_by_label("Password").fill(password(lab).strip())
        page.keyboard.press("Enter")
        page.get_by_role("link", name="sys1").click()
        page.get_by_role("button", name="Operations for stay").click()
        page.get_by_role("menuitem", name="Validate…").click()
        page.locator("#mobility").wait_for(state="visible")
        form = page.locator("#mobility-form")
        # This console manages sys1 only: no destination until another console is named.
        assert form.locator('select[name="target"] option').count() == 0

        form.locator('input[name="remote_hmc"]').fill("hmcb")
        form.locator('input[name="remote_user"]').fill("hscroot")
        form.locator('input[name="remote_user"]').press("Tab")
        form.locator('select[name="target"] option[value="sys2"]').wait_for(state="attached")
        form.locator('select[name="dest_msp_name"] option[value="sys2-msp1"]').wait_for(
            state="attached")
        page.locator("#validate").click()
        verdict = page.locator("#findings .verdict")
        verdict.wait_for()
        assert verdict.inner_text().startswith("Validation passed"), \
            page.locator("#findings").inner_text()
        assert page.locator("#migrate").is_enabled()
    assert "stay:Running" in names(lab, "sys1")


def test_a_remote_user_the_console_holds_no_keys_for_is_refused(lab: Lab) -> None:
    staying(lab)
    message = refused(lab, "migrlpar", "-o", "v", "-m", "sys1", "-t", "sys2", "-p", "stay",
                      "--ip", "hmcb", "-u", "nobody", code="HSCLF521", status=3)
    assert "mkauthkeys --ip hmcb -u nobody" in message
    assert "stay:Running" in names(lab, "sys1")
    assert "hscroot:POST /validations:failed:HSCLF521" in audit(lab)


def test_a_remote_user_whose_role_there_may_not_migrate_is_refused_there(lab: Lab) -> None:
    staying(lab)
    lab.run("mkhmcusr", "-u", "op", "-a", "hmcoperator", stdin="op-password\n",
            env=remote(lab))
    lab.run("mkauthkeys", "--ip", HMCB, "-u", "op", stdin="op-password\n")
    lab.run("chhmcusr", "-u", "op", "-t", "taskrole", "-v", "hmcviewer", env=remote(lab))

    message = refused(lab, "migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p", "stay",
                      "--ip", "hmcb", "-u", "op", code="HSCL350B", status=12)
    assert "Remote console hmcb (as op)" in message and "hmcviewer" in message
    assert "stay:Running" in names(lab, "sys1")
    assert "stay" not in " ".join(names(lab, "sys2", remote(lab)))
    assert "op:POST /peer/validations:refused:HSCL350B" in audit(lab, remote(lab))
    assert "hscroot:POST /migrations:failed:HSCL350B" in audit(lab)


def test_a_viewer_may_not_exchange_keys(lab: Lab) -> None:
    lab.run("mkhmcusr", "-u", "view", "-a", "hmcviewer", stdin="view-password\n",
            env=remote(lab))
    refused(lab, "mkauthkeys", "--ip", HMCB, "-u", "view", stdin="view-password\n",
            code="HSCL350B", status=12)
    assert "view" not in lab.values("lsauthkeys", "--remote", "-F", "user")


def test_an_unreachable_remote_console_is_refused_and_nothing_changes(lab: Lab) -> None:
    staying(lab)
    lab.kill("remote-hmc")
    try:
        message = refused(lab, "migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p",
                          "stay", "--ip", "hmcb", "-u", "hscroot", code="HSCLF522",
                          status=8)
        assert f"https://{HMCB}:8480" in message
        assert "stay:Running" in names(lab, "sys1")
        assert "hscroot:POST /migrations:failed:HSCLF522" in audit(lab)
    finally:
        lab.restart("remote-hmc")
    assert "stay" not in " ".join(names(lab, "sys2", remote(lab)))


def test_an_inactive_partition_moves_to_the_other_console_s_system(lab: Lab) -> None:
    start(lab, "cold1")
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "shutdown", "--immed",
            "-n", "cold1")
    lab.run("migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p", "cold1", "--ip", "hmcb",
            "-u", "hscroot")
    assert "cold1:Not Activated" in names(lab, "sys2", remote(lab))
    assert "cold1" not in " ".join(names(lab, "sys1"))
    lab.run("chsysstate", "-r", "lpar", "-m", "sys2", "-o", "on", "-n", "cold1",
            env=remote(lab))
    lab.wait_ticks("sys2", "cold1", more_than=1, env=remote(lab))


def test_keys_forgotten_with_mkauthkeys_r_no_longer_work(lab: Lab) -> None:
    lab.run("mkauthkeys", "--ip", "hmcb", "-u", "op", "--test")
    lab.run("mkauthkeys", "-r", "--ip", "hmcb", "-u", "op")
    refused(lab, "mkauthkeys", "--ip", "hmcb", "-u", "op", "--test", code="HSCL3653",
            status=3)
    assert "op" not in lab.values("lsauthkeys", "--remote", "-F", "user")
    staying(lab)
    refused(lab, "migrlpar", "-o", "v", "-m", "sys1", "-t", "sys2", "-p", "stay", "--ip",
            "hmcb", "-u", "op", code="HSCLF521", status=3)


BUSY = ("name={name},min_mem=128,desired_mem=384,max_mem=512,min_procs=1,desired_procs=1,"
        "max_procs=1,kernel_args=openlpm.dirty_mb=96")


def busy_migration(lab: Lab, name: str) -> tuple[str, subprocess.Popen[str]]:
    """A partition dirtying memory faster than the link carries it, migrating to hmcb's
    sys2 with a downtime limit so small that step 4 runs until something ends it;
    returns its boot id and the running migrlpar, once the stream is under way."""
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", BUSY.format(name=name))
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", name)
    boot = lab.wait_ticks("sys1", name, more_than=2)[-1][2]
    migration = subprocess.Popen(
        [str(BIN / "migrlpar"), "-o", "m", "-m", "sys1", "-t", "sys2", "-p", name, "--ip",
         "hmcb", "-u", "hscroot", "-i", "max_downtime_ms=20"],
        env={**site.client_env(lab.state), "PATH": "/usr/bin:/bin"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _migrating(lab, "sys2", name, remote(lab)).endswith("step 4"):
        assert time.monotonic() < deadline, f"the migration of {name} did not reach step 4"
        time.sleep(0.2)
    return boot, migration


def one_place(lab: Lab, name: str) -> str:
    """The one system that has the partition, across both consoles (and with one QEMU)."""
    here = [n for n in names(lab, "sys1") if n.startswith(f"{name}:")]
    there = [n for n in names(lab, "sys2", remote(lab)) if n.startswith(f"{name}:")]
    assert len(here) + len(there) == 1, (here, there)
    system = "sys1" if here else "sys2"
    assert len(lab.qemu_pids(system, name)) == 1
    assert not lab.qemu_pids("sys2" if here else "sys1", name)
    return system


def test_a_migration_across_consoles_stopped_with_o_s_leaves_no_trace_on_the_target(
        lab: Lab) -> None:
    with lab.slow_link("200mbit", "sys1"):
        boot, migration = busy_migration(lab, "halt1")
        lab.run("migrlpar", "-o", "s", "-m", "sys1", "-p", "halt1")
        migration.communicate(timeout=120)
    assert one_place(lab, "halt1") == "sys1"
    lab.assert_one_boot("sys1", "halt1", lab.wait_ticks("sys1", "halt1", more_than=4), boot)
    theirs = lab.run("lslparmigr", "-r", "migr", "-m", "sys2", "-F",
                     "name:migration_state", env=remote(lab)).stdout
    assert "halt1:Migration Stopped" in theirs.splitlines()
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "shutdown", "--immed",
            "-n", "halt1")


def test_the_driving_console_killed_mid_migration_settles_it_across_consoles_at_restart(
        lab: Lab) -> None:
    with lab.slow_link("200mbit", "sys1"):
        boot, migration = busy_migration(lab, "crash1")
        lab.kill("hmc")
        migration.communicate(timeout=60)
        lab.restart("hmc")
        deadline = time.monotonic() + 60
        while not any(line.startswith("crash1:") and ":Migration In Progress" not in line
                      for line in _history(lab, remote(lab))):
            assert time.monotonic() < deadline, _history(lab, remote(lab))
            time.sleep(0.5)
    where = one_place(lab, "crash1")
    env = remote(lab) if where == "sys2" else None
    ticks = lab.wait_ticks(where, "crash1", more_than=4, env=env)
    lab.assert_one_boot(where, "crash1", ticks, boot, env=env)
    # Both consoles tell the same story.
    ours = [line for line in _history(lab, None) if line.startswith("crash1:")]
    assert ours == [line for line in _history(lab, remote(lab)) if line.startswith("crash1:")]
    lab.run("chsysstate", "-r", "lpar", "-m", where, "-o", "shutdown", "--immed", "-n",
            "crash1", env=env)


def _history(lab: Lab, env: dict[str, str] | None) -> list[str]:
    system = "sys2" if env else "sys1"
    return lab.run("lslparmigr", "-r", "migr", "-m", system, "-F",
                   "name:migration_state:error_code", env=env).stdout.splitlines()
