"""The web console in a real browser (Debian's chromium, driven by Playwright) against a
lab with real partitions: sign in, servers, a system's partitions, Operations → Mobility
→ Validate (an error; only a warning), Migrate with the progress window, Stop.

Screenshots of each page are saved under test-artifacts/web/ (or $OPENLPM_SCREENSHOTS).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openlpm.lab import site
from tests.integration.conftest import Lab

playwright_api = pytest.importorskip("playwright.sync_api")

SCREENS = Path(os.environ.get("OPENLPM_SCREENSHOTS",
                              Path(__file__).parents[2] / "test-artifacts" / "web"))
PROFILE = ("name={name},profile_name=default,min_mem=128,desired_mem={mem},max_mem={mem},"
           "min_procs=1,desired_procs=1,max_procs=1{extra}")
TIMEOUT_MS = 60_000


def create(lab: Lab, name: str, mem: int = 256, extra: str = "") -> None:
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i",
            PROFILE.format(name=name, mem=mem, extra=extra))
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", name)


@pytest.fixture(scope="module")
def partitions(lab: Lab) -> dict[str, str]:
    """web1 migrates, locked may not (an error), quiet has no mobility hook (a warning),
    big is large enough to be stopped on a slowed link. Their boot ids by name."""
    create(lab, "web1", 512, ",kernel_args=openlpm.fill_mb=200")
    create(lab, "locked", extra=",migration_disabled=1")
    create(lab, "quiet", extra=",kernel_args=openlpm.hook=off")
    create(lab, "big", 512, ",kernel_args=openlpm.fill_mb=300")
    return {name: lab.wait_ticks("sys1", name, more_than=1, timeout=240)[-1][2]
            for name in ("web1", "locked", "quiet", "big")}


@pytest.fixture(scope="module")
def page(lab: Lab, browser: object, partitions: dict[str, str]) -> Iterator[object]:
    shutil.rmtree(SCREENS, ignore_errors=True)
    SCREENS.mkdir(parents=True)
    # The lab's console answers HTTPS with its own certificate, which chromium cannot be
    # told to pin from here.
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 860}, ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{lab.state.hmc_url}/")
    yield page
    context.close()
    assert errors == [], f"the page raised: {errors}"


def shot(page: object, name: str) -> None:
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def password(lab: Lab) -> str:
    return site.admin_password_file(lab.state.prefix).read_text().strip()


def open_mobility(page: object, partition: str) -> None:
    page.get_by_role("button", name=f"Operations for {partition}").click()  # type: ignore[attr-defined]
    page.get_by_role("menuitem", name="Validate…").click()  # type: ignore[attr-defined]
    page.locator("#mobility").wait_for(state="visible")  # type: ignore[attr-defined]


def validate(page: object) -> str:
    page.locator("#validate").click()  # type: ignore[attr-defined]
    verdict = page.locator("#findings .verdict")  # type: ignore[attr-defined]
    verdict.wait_for()
    return str(verdict.inner_text())


def test_signing_in_needs_the_right_password(lab: Lab, page: object) -> None:
    page.get_by_label("Password").fill("not the password")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.get_by_text("HSCLF501 Wrong user or password.").wait_for()  # type: ignore[attr-defined]
    shot(page, "01-sign-in-refused")

    page.get_by_label("Password").fill(password(lab))  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Servers").wait_for()  # type: ignore[attr-defined]
    assert page.locator("#who").inner_text() == "hscroot (hmcsuperadmin)"  # type: ignore[attr-defined]


def test_servers_lists_every_system_with_its_resources_and_movers(page: object) -> None:
    rows = page.locator("main table tbody tr")  # type: ignore[attr-defined]
    rows.nth(1).wait_for()
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    assert [t.split()[0] for t in texts] == ["sys1", "sys2"]
    assert all("sys" in t and "msp1" in t and "GiB" in t for t in texts), texts
    shot(page, "02-servers")


def test_a_system_shows_its_partitions_and_their_states(page: object) -> None:
    page.get_by_role("link", name="sys1").click()  # type: ignore[attr-defined]
    table = page.locator("#partitions")  # type: ignore[attr-defined]
    table.wait_for()
    text = table.inner_text()
    for name in ("web1", "locked", "quiet", "big"):
        assert name in text
    assert text.count("Running") >= 4
    shot(page, "03-system-partitions")


def test_validation_with_an_error_lists_it_and_keeps_migrate_disabled(page: object) -> None:
    open_mobility(page, "locked")
    assert validate(page).startswith("Validation failed")
    assert page.locator('#findings .finding.error[data-code="HSCLF412"]').count() == 1  # type: ignore[attr-defined]
    assert page.locator("#migrate").is_disabled()  # type: ignore[attr-defined]
    shot(page, "04-validate-error")
    page.keyboard.press("Escape")  # type: ignore[attr-defined]


def test_validation_with_only_a_warning_passes_and_enables_migrate(page: object) -> None:
    open_mobility(page, "quiet")
    assert validate(page) == "Validation passed with 1 warning(s)."
    assert page.locator('#findings .finding.warning[data-code="HSCLA246"]').count() == 1  # type: ignore[attr-defined]
    assert page.locator("#migrate").is_enabled()  # type: ignore[attr-defined]
    shot(page, "05-validate-warning")
    page.get_by_role("button", name="Close").first.click()  # type: ignore[attr-defined]


def watch_progress(page: object, until: str, timeout_s: float = 120.0) -> list[tuple[str, str]]:
    """Read the progress window every 100 ms until its result says ``until``; returns each
    distinct (current step, bytes) it showed."""
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        shown = page.evaluate(  # type: ignore[attr-defined]
            """() => [document.querySelector('#progress-steps li.current')?.innerText || '',
                      document.querySelector('#progress-bytes').innerText,
                      document.querySelector('#progress-result').innerText]""")
        step, sent, result = shown
        if not seen or seen[-1] != (step, sent):
            seen.append((step, sent))
        if until in result:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"the progress window never said {until!r}; it showed {seen}")


def test_migrate_shows_progress_until_completed_and_the_partition_is_on_the_target(
        lab: Lab, page: object, partitions: dict[str, str]) -> None:
    open_mobility(page, "web1")
    assert validate(page) == "Validation passed."
    page.locator("#migrate").click()  # type: ignore[attr-defined]
    page.locator("#progress").wait_for(state="visible")  # type: ignore[attr-defined]
    shot(page, "06-progress")

    seen = watch_progress(page, "Migration Complete")

    shot(page, "07-progress-complete")
    steps = {step.replace("\n", " ") for step, _ in seen if step}
    assert any("Migrate" in step for step in steps), seen
    assert len({sent for _, sent in seen if "sent" in sent}) >= 2, \
        f"the bytes never changed: {seen}"
    assert "now runs on sys2" in page.locator("#progress-result").inner_text()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Close").last.click()  # type: ignore[attr-defined]

    page.goto(f"{lab.state.hmc_url}/console/#/systems/sys2")  # type: ignore[attr-defined]
    page.locator("#partitions").get_by_text("web1").wait_for()  # type: ignore[attr-defined]
    shot(page, "08-target-system")
    ticks = lab.wait_ticks("sys2", "web1", more_than=2, received_on="sys2")
    assert {boot for _, _, boot, _ in ticks} == {partitions["web1"]}


def test_a_migration_can_be_stopped_from_its_progress_window(
        lab: Lab, page: object, partitions: dict[str, str]) -> None:
    with lab.slow_link("100mbit", "sys1"):
        page.goto(f"{lab.state.hmc_url}/console/#/systems/sys1")  # type: ignore[attr-defined]
        open_mobility(page, "big")
        assert validate(page) == "Validation passed."
        page.locator("#migrate").click()  # type: ignore[attr-defined]
        page.locator("#progress").wait_for(state="visible")  # type: ignore[attr-defined]
        page.locator("#progress-steps li.current", has_text="Migrate").wait_for()  # type: ignore[attr-defined]
        page.locator("#progress-stop").click()  # type: ignore[attr-defined]
        watch_progress(page, "Migration Stopped")
        shot(page, "09-progress-stopped")
        page.get_by_role("button", name="Close").last.click()  # type: ignore[attr-defined]
    assert lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "state",
                      "--filter", "lpar_names=big") == ["Running"]
    lab.assert_not_on("sys2", "big")
    ticks = lab.wait_ticks("sys1", "big", more_than=len(lab.ticks("sys1", "big")) + 1)
    assert {boot for _, _, boot, _ in ticks} == {partitions["big"]}


def test_the_history_lists_every_migration_with_its_journal(page: object) -> None:
    page.get_by_role("link", name="Migrations").click()  # type: ignore[attr-defined]
    rows = page.locator("table.history tbody tr")  # type: ignore[attr-defined]
    rows.first.wait_for()
    text = page.locator("table.history").inner_text()  # type: ignore[attr-defined]
    assert "Migration Complete" in text and "Migration Stopped" in text
    rows.first.get_by_role("button", name="journal").click()
    page.locator("#journal").get_by_text("begin").first.wait_for()  # type: ignore[attr-defined]
    shot(page, "10-history-journal")
    page.keyboard.press("Escape")  # type: ignore[attr-defined]


def test_evacuate_shows_the_plan_before_moving_anything_then_moves(
        lab: Lab, page: object, partitions: dict[str, str]) -> None:
    page.goto(f"{lab.state.hmc_url}/console/#/systems/sys1")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Evacuate…").click()  # type: ignore[attr-defined]
    plan = page.locator("#evacuation-plan")  # type: ignore[attr-defined]
    plan.wait_for()
    text = plan.inner_text()
    assert "stays: sys2: HSCLF412" in text, text
    assert lab.values("lssyscfg", "-r", "sys", "-m", "sys1", "-F", "maintenance") == ["0"]
    shot(page, "11-evacuation-plan")

    page.get_by_role("button", name="Evacuate now").click()  # type: ignore[attr-defined]
    page.get_by_text("is in maintenance").wait_for()  # type: ignore[attr-defined]
    shot(page, "12-evacuation-started")
    page.get_by_role("button", name="Close").last.click()  # type: ignore[attr-defined]

    deadline = time.monotonic() + 180
    while sorted(lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "name")) != ["locked"]:
        assert time.monotonic() < deadline, "the evacuation did not empty sys1"
        time.sleep(1)
    # The page follows by itself (no reload): the moved partitions leave its table.
    playwright_api.expect(page.locator("#partitions tbody tr")).to_have_count(  # type: ignore[attr-defined]
        1, timeout=TIMEOUT_MS)
    assert "locked" in page.locator("#partitions").inner_text()  # type: ignore[attr-defined]
    for name in ("big", "quiet"):
        ticks = lab.wait_ticks("sys2", name, more_than=2, received_on="sys2")
        assert {boot for _, _, boot, _ in ticks} == {partitions[name]}
    lab.run("openlpm", "maintenance", "-m", "sys1", "--off")


def test_a_partition_page_shows_its_profile_and_its_own_event_log(
        lab: Lab, page: object) -> None:
    page.goto(f"{lab.state.hmc_url}/console/#/systems/sys2")  # type: ignore[attr-defined]
    page.locator("#partitions").get_by_role("link", name="web1").click()  # type: ignore[attr-defined]
    page.locator("#partition-facts").wait_for()  # type: ignore[attr-defined]
    history = page.locator("table.history").inner_text()  # type: ignore[attr-defined]
    assert "web1" in history and "Migration Complete" in history
    assert "big" not in history
    shot(page, "13-partition")


def test_a_page_left_while_it_loads_does_not_draw_over_the_next(
        lab: Lab, page: object) -> None:
    page.goto(f"{lab.state.hmc_url}/console/#/servers")  # type: ignore[attr-defined]
    page.locator("main h1", has_text="Servers").wait_for()  # type: ignore[attr-defined]
    # sys1's page answers slowly (as during an evacuation); the user goes on to sys2.
    page.evaluate("""() => {
      const fetchNow = window.fetch;
      window.fetch = (url, options) => String(url).includes("/systems/sys1")
        ? new Promise((done) => setTimeout(done, 1500)).then(() => fetchNow(url, options))
        : fetchNow(url, options);
    }""")  # type: ignore[attr-defined]
    for system in ("sys1", "sys2"):
        page.evaluate("""(system) => new Promise((routed) => {
          window.addEventListener("hashchange", routed, { once: true });
          location.hash = `#/systems/${system}`;
        })""", system)  # type: ignore[attr-defined]
    page.locator("main h1", has_text="sys2").wait_for()  # type: ignore[attr-defined]
    page.wait_for_timeout(2500)  # type: ignore[attr-defined]
    assert page.locator("main h1").inner_text() == "sys2"  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]


def test_a_system_removed_comes_back_through_the_add_system_form(
        lab: Lab, page: object) -> None:
    """Remove asks first; the agent this console enrolled needs no code to come back."""
    page.goto(f"{lab.state.hmc_url}/console/#/servers")  # type: ignore[attr-defined]
    page.once("dialog", lambda dialog: dialog.accept())  # type: ignore[attr-defined]
    page.get_by_role("button", name="Remove sys2").click()  # type: ignore[attr-defined]
    page.get_by_text("Removed sys2.").wait_for()  # type: ignore[attr-defined]
    assert page.get_by_role("link", name="sys2").count() == 0  # type: ignore[attr-defined]

    form = page.locator("#add-system")  # type: ignore[attr-defined]
    form.get_by_label("IP address or host name").fill("198.18.0.12")
    form.get_by_role("button", name="Add").click()
    # What the add did replaces what the removal did: success or the HSCL message.
    notice = page.locator("main p[role=status], main p[role=alert]")  # type: ignore[attr-defined]
    playwright_api.expect(notice).not_to_have_text("Removed sys2.", timeout=TIMEOUT_MS)
    assert notice.inner_text() == "Added sys2 at 198.18.0.12 (Connected)."
    row = page.locator("main table tbody tr", has_text="sys2")  # type: ignore[attr-defined]
    assert "Operating" in row.inner_text()
    shot(page, "14-system-added-again")
    form.get_by_label("IP address or host name").fill("198.18.0.12")
    form.get_by_role("button", name="Add").click()
    page.get_by_role("alert").filter(has_text="HSCLF161").wait_for()  # type: ignore[attr-defined]
