"""The dashboard in headless Chromium against a real stack: real clicks, real workers, real
Redis. Screenshots of the main views land in tests/dashboard/artifacts/."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from feedback_queue.credentials import Credentials, Role, add
from feedback_queue.job import Status
from feedback_queue.outcomes import Held
from feedback_queue.progress import Progress
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.v1 import queue_pb2 as pb
from tests.dashboard.conftest import PHONE, MakeDashboard, not_found, submit_failed
from tests.gateway.conftest import TOKEN
from tests.helpers import submission
from tests.secrets import secret

POISON = "POISON: this piece makes the processor fail until the test cures it."
CPU_SHOWN = re.compile(r"^\d+\.\d% of a core, last \d+(\.\d)? s$")
TEXT = "The river was quiet that morning. We walked along it until the bridge, then turned back."


async def test_sign_in_refuses_a_wrong_token_and_keeps_the_right_one_in_the_tab(
    make_dashboard: MakeDashboard,
) -> None:
    dash = await make_dashboard()
    page = dash.page
    await dash.open()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_label("Admin token")).to_be_focused()
    await dash.shot("sign-in")

    await page.get_by_label("Admin token").fill("not-the-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "That token was refused: it is not the gateway's admin token."
    )
    await expect(page.locator("#dashboard")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('fbq.adminToken')") is None
    await dash.shot("sign-in-refused")

    await page.get_by_label("Admin token").fill(TOKEN)
    await page.get_by_label("Admin token").press("Enter")
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    await expect(page.get_by_role("button", name="Pause queue")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('fbq.adminToken')") == TOKEN
    assert "not-the-token" not in page.url
    assert TOKEN not in page.url

    # A reload keeps the session (same tab); another tab must sign in by itself.
    await page.reload()
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    other = await dash.context.new_page()
    await other.goto(dash.url)
    await expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    await other.close()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("alert")).to_have_text("Signed out.")
    assert await page.evaluate("sessionStorage.getItem('fbq.adminToken')") is None
    # Every API call after sign-in carried the Bearer header, and only in the header.
    assert dash.api_auth == {"Bearer not-the-token", f"Bearer {TOKEN}"}
    dash.assert_clean(console=False)  # the refused sign-in logs its 403


async def test_counts_follow_the_flow_through_pause_and_resume(
    make_dashboard: MakeDashboard,
) -> None:
    dash = await make_dashboard(worker=True)
    page = dash.page
    await dash.sign_in()
    await expect(dash.count("workers")).to_have_text("1")
    await expect(dash.count("waiting")).to_have_text("0")

    await page.get_by_role("button", name="Pause queue").click()
    await expect(page.get_by_role("button", name="Resume queue")).to_be_visible()
    await expect(page.locator("#paused-banner")).to_be_visible()
    assert await dash.ingest.queue.is_paused()

    ids = [await dash.submit(f"{TEXT} Piece {i}.") for i in range(6)]
    await expect(dash.count("waiting")).to_have_text("6")  # paused: the worker takes none
    await expect(page.locator("#tab-count-waiting")).to_have_text("6")
    rows = page.locator("#list-rows tr")
    await expect(rows).to_have_count(6)
    await expect(rows.first).to_contain_text(ids[0])  # in the order they will run
    await expect(page.locator("#list-summary")).to_have_text(
        "6 waiting submissions; showing 1\N{EN DASH}6."
    )
    await dash.shot("overview-paused")

    await page.get_by_role("button", name="Resume queue").click()
    await expect(page.get_by_role("button", name="Pause queue")).to_be_visible()
    await expect(page.locator("#paused-banner")).to_be_hidden()
    await expect(dash.count("completed")).to_have_text("6")
    await expect(dash.count("waiting")).to_have_text("0")
    await expect(page.locator("#list-empty")).to_have_text(
        "Nothing is waiting: every submission has been picked up."
    )
    # The throughput chart drew the completions, and says so in words.
    await expect(page.locator("#chart path.series-completed")).to_have_count(1)
    await expect(page.locator("#chart-summary")).to_contain_text("6 completed and 6 submitted")

    await expect(page.locator("#chart-title")).to_have_text("Throughput, last 1 minute")

    await dash.tab("Completed")
    await expect(page.locator("#list-rows tr")).to_have_count(6)
    await expect(page.locator("#list-time-head")).to_have_text("Finished")
    await dash.shot("overview")
    assert await page.evaluate(CONTRAST_FAILURES) == []
    dash.assert_clean()


async def test_a_failed_submission_is_retried_from_its_detail_and_completes(
    make_dashboard: MakeDashboard,
) -> None:
    dash = await make_dashboard(worker=True)
    page = dash.page
    await dash.sign_in()
    for i in range(3):
        await dash.submit(f"{TEXT} Fine piece {i}.")
    poisoned = await dash.submit(POISON)
    await expect(dash.count("failed")).to_have_text("1")
    await expect(dash.count("completed")).to_have_text("3")
    await expect(page.locator("#chart-summary")).to_contain_text("completed/s")

    await dash.tab("Failed")
    await expect(page.get_by_role("button", name="Retry all failed")).to_be_visible()
    row = page.locator("#list-rows tr", has_text=poisoned)
    await expect(row).to_contain_text("poisoned piece")
    await expect(row).to_contain_text("1 of 5")
    await dash.shot("list-failed")

    await page.get_by_role("button", name=f"Open {poisoned}").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#detail-id")).to_have_text(poisoned)
    await expect(dialog.locator("#detail-status")).to_have_text("failed")
    await expect(dialog.locator("#detail-last-error")).to_have_text(
        "PermanentError: poisoned piece"
    )
    await expect(dialog.locator("#detail-content")).to_have_text(POISON)
    await expect(dialog.locator("#detail-attempts")).to_have_text("attempt 1 of 5")
    await dash.shot("detail-failed", full_page=False)

    dash.cure.touch()
    await dialog.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("status").filter(has_text="Retried")).to_have_text(
        f"Retried {poisoned}: it is waiting again."
    )
    # The open detail follows the submission until it completes, with its result.
    await expect(dialog.locator("#detail-status")).to_have_text("completed")
    await expect(dialog.locator("#detail-result")).to_contain_text('"words":')
    await expect(dialog.get_by_role("button", name="Retry")).to_be_hidden()
    await dash.shot("detail-completed", full_page=False)

    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(dash.count("failed")).to_have_text("0")
    await expect(page.locator("#list-empty")).to_have_text(
        "Nothing has failed. Submissions land here after their last attempt fails."
    )
    await expect(dash.count("completed")).to_have_text("4")
    dash.assert_clean()


async def test_delete_one_and_retry_all_failed(make_dashboard: MakeDashboard) -> None:
    dash = await make_dashboard(worker=True)
    page = dash.page
    await dash.sign_in()
    ids = [await dash.submit(f"{POISON} Number {i}.") for i in range(3)]
    await expect(dash.count("failed")).to_have_text("3")
    await dash.tab("Failed")
    await expect(page.locator("#list-rows tr")).to_have_count(3)

    confirm = page.get_by_role("dialog", name=f"Delete {ids[0]}?")
    await page.get_by_role("button", name=f"Delete {ids[0]}").click()
    await expect(confirm).to_be_visible()
    await expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    await page.keyboard.press("Escape")  # cancelled: nothing happens
    await expect(confirm).to_be_hidden()
    assert not await not_found(dash, ids[0])

    await page.get_by_role("button", name=f"Delete {ids[0]}").click()
    await confirm.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("status").filter(has_text="Deleted")).to_have_text(
        f"Deleted {ids[0]}."
    )
    await expect(page.locator("#list-rows tr")).to_have_count(2)
    await expect(dash.count("failed")).to_have_text("2")
    assert await not_found(dash, ids[0])

    dash.cure.touch()
    await page.get_by_role("button", name="Retry all failed").click()
    await expect(page.get_by_role("status").filter(has_text="Retried")).to_have_text(
        "Retried 2 failed submissions."
    )
    await expect(dash.count("completed")).to_have_text("2")
    await expect(dash.count("failed")).to_have_text("0")
    await expect(page.locator("#list-empty")).to_be_visible()
    await expect(page.get_by_role("button", name="Retry all failed")).to_be_hidden()
    dash.assert_clean()


async def test_keyboard_alone_reaches_every_view(make_dashboard: MakeDashboard) -> None:
    dash = await make_dashboard()
    page = dash.page
    await dash.sign_in()
    failed = await submit_failed(dash, POISON)
    for i in range(2):
        await dash.submit(f"{TEXT} Number {i}.")

    # From the top of a fresh load, the skip link is the first stop and leads to the list.
    await page.reload()
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to submissions")
    await expect(skip).to_be_focused()
    assert await skip.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Submissions")).to_be_focused()

    # The card's own action first, then the tabs: one stop, arrows move between them (the
    # ARIA tabs pattern).
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Cancel matching…")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("tab", name=re.compile("^Waiting"))).to_be_focused()
    await expect(page.locator("#list-rows tr")).to_have_count(2)
    for _ in range(3):
        await page.keyboard.press("ArrowRight")
    failed_tab = page.get_by_role("tab", name=re.compile("^Failed"))
    await expect(failed_tab).to_be_focused()
    await expect(failed_tab).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#list-rows tr")).to_have_count(1)

    # Into the list: open the failed one with Enter; Escape closes and focus comes back.
    opener = page.get_by_role("button", name=f"Open {failed}")
    await page.keyboard.press("Tab")
    await expect(opener).to_be_focused()
    assert await opener.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Submission {failed}")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#detail-status")).to_have_text("failed")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(opener).to_be_focused()

    # The focus stays on its control across refreshes (the rows are rebuilt when data changes).
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name=f"Retry {failed}")).to_be_focused()
    await dash.submit(f"{TEXT} Later.")  # new data: the rows are rebuilt
    await expect(dash.count("waiting")).to_have_text("3")
    await expect(page.get_by_role("button", name=f"Retry {failed}")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status").filter(has_text="Retried")).to_be_visible()
    await expect(dash.count("waiting")).to_have_text("4")
    dash.assert_clean()


async def test_phone_width_reads_without_sideways_scrolling(make_dashboard: MakeDashboard) -> None:
    dash = await make_dashboard()
    page = dash.page
    await page.set_viewport_size(PHONE)
    await dash.sign_in()
    failed = await submit_failed(dash, POISON + " " + TEXT * 3)
    for i in range(3):
        await dash.submit(f"{TEXT} Number {i}.")
    await expect(dash.count("waiting")).to_have_text("3")
    await expect(dash.count("failed")).to_have_text("1")
    await dash.tab("Failed")
    await expect(page.locator("#list-rows tr")).to_have_count(1)
    wide = await page.evaluate(
        """() => [...document.querySelectorAll("body *")]
            .filter((e) => !e.closest("thead, .visually-hidden"))  // clipped to 1px on purpose
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map((e) => e.id || e.className || e.tagName)"""
    )
    assert wide == []
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await dash.shot("phone-overview")
    await page.get_by_role("button", name=f"Open {failed}").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.locator("#detail-status")).to_have_text("failed")
    box = await dialog.bounding_box()
    assert box is not None
    assert 0 <= box["x"] <= box["x"] + box["width"] <= PHONE["width"]
    await dash.shot("phone-detail", full_page=False)
    await page.keyboard.press("Escape")
    assert await page.evaluate(CONTRAST_FAILURES) == []
    await page.emulate_media(color_scheme="dark")
    assert await page.evaluate(CONTRAST_FAILURES) == []
    await dash.shot("phone-overview-dark")
    dash.assert_clean()


# Every visible piece of text against the background it sits on: WCAG AA wants 4.5:1 (3:1 for
# large text). Backgrounds are found by walking up to the first opaque one.
CONTRAST_FAILURES = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const node = text.parentElement;
    if (!text.textContent.trim() || !node.getClientRects().length) continue;
    const style = getComputedStyle(node);
    if (style.visibility === "hidden" || Number(style.opacity) < 1) continue;
    if (node.closest("[hidden], .visually-hidden, dialog:not([open])")) continue;
    const a = lum(rgb(style.color)), b = lum(background(node));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.6 && Number(style.fontWeight) >= 700);
    const label = text.textContent.trim().slice(0, 30);
    if (ratio < (large ? 3 : 4.5)) failures.push(`${label}: ${ratio.toFixed(2)}`);
  }
  return failures;
}"""


async def test_the_page_rides_out_a_redis_outage(
    make_dashboard: MakeDashboard, make_server: type[EmbeddedRedis]
) -> None:
    server = make_server(appendonly=True)  # type: ignore[call-arg]
    dash = await make_dashboard(server)
    page = dash.page
    await dash.sign_in()
    kept = await dash.submit(TEXT)
    await expect(dash.count("waiting")).to_have_text("1")
    await expect(page.locator("#redis-status")).to_have_text("healthy")
    # Redis's CPU, once ingest has read it twice (each refresh reads it once).
    cpu = page.locator("#redis-cpu")
    await expect(cpu).to_have_text(CPU_SHOWN)

    server.stop()
    outage = page.locator("#outage")
    await expect(outage).to_contain_text("The queue is unavailable")
    await expect(outage).to_contain_text("Redis")
    await expect(page.locator("#redis-status")).to_have_text("unhealthy")
    await expect(cpu).to_have_text("\N{EN DASH}")
    await expect(page.locator("#live")).to_have_attribute("data-state", "down")
    await expect(page.locator("#stale-note")).to_be_visible()
    await expect(dash.count("waiting")).to_have_text("1")  # last known, not zeroed
    await dash.shot("outage-redis")

    server.restart()
    await expect(outage).to_be_hidden()
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    await expect(page.locator("#redis-status")).to_have_text("healthy")
    await expect(page.get_by_role("button", name=f"Open {kept}")).to_be_visible()
    # A restarted Redis is another process: its rate starts over from new readings.
    await expect(cpu).to_have_text(CPU_SHOWN)
    dash.assert_clean(console=False)  # the outage's 503s are logged by Chromium


async def test_the_page_rides_out_the_gateway_restarting_and_a_new_token(
    make_dashboard: MakeDashboard,
) -> None:
    dash = await make_dashboard()
    page = dash.page
    await dash.sign_in()
    await dash.gateway.stop()
    outage = page.locator("#outage")
    await expect(outage).to_contain_text("Cannot reach the gateway.")
    await expect(page.locator("#live-text")).to_have_text("Offline · retrying by itself")
    await dash.shot("outage-gateway")
    await dash.submit(TEXT)  # happens while the page cannot see it

    await dash.gateway.start()
    await expect(outage).to_be_hidden()
    await expect(dash.count("waiting")).to_have_text("1")

    # The admin token is rotated: the old one is refused, so the page asks for the new one.
    await dash.gateway.stop()
    await dash.gateway.start(token="rotated-token-5d1e")
    await expect(page.get_by_role("alert")).to_have_text(
        "The gateway refused the token (it may have been changed). Sign in with the current one."
    )
    await expect(page.get_by_label("Admin token")).to_be_focused()
    assert await page.evaluate("sessionStorage.getItem('fbq.adminToken')") is None
    await dash.sign_in("rotated-token-5d1e")
    await expect(dash.count("waiting")).to_have_text("1")
    dash.assert_clean(console=False)  # the refused calls and the outage are logged by Chromium


async def test_a_401_returns_to_sign_in(make_dashboard: MakeDashboard) -> None:
    dash = await make_dashboard()
    page = dash.page
    await dash.sign_in()
    # The real gateway answers 401 only to a call without the header, which this page never
    # makes; a proxy in front of it might, so the next calls are answered 401 here.
    await page.route(
        "**/api/admin/**",
        lambda route: route.fulfill(
            status=401,
            content_type="application/problem+json",
            body='{"title":"Unauthorized","status":401,"detail":"send a token"}',
        ),
    )
    await expect(page.get_by_role("alert")).to_have_text(
        "The gateway asked for the admin token again. Sign in to continue."
    )
    await expect(page.locator("#dashboard")).to_be_hidden()
    dash.assert_clean(console=False)


async def test_a_viewer_sees_the_dashboard_but_its_buttons_are_refused(
    make_dashboard: MakeDashboard, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # #21: the gateway's HTTP tokens have roles; a viewer may look, not change.
    path = tmp_path / "credentials"
    viewer = secret(add(path, "viewer-1", Role.VIEWER))
    dash = await make_dashboard(credentials=Credentials.load(path))
    page = dash.page
    failed = await submit_failed(dash, POISON)
    caplog.set_level(logging.INFO, logger="fbq.audit")
    await dash.sign_in(viewer)
    await expect(dash.count("failed")).to_have_text("1")

    await page.get_by_role("button", name="Pause queue").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Pause failed: principal viewer-1 is a viewer, which may only look: PauseQueue needs "
        "an operator or admin credential"
    )
    await dash.tab("Failed")
    await page.get_by_role("button", name="Retry all failed").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "Retry all failed: principal viewer-1 is a viewer"
    )
    await dash.shot("viewer-refused")
    # Still signed in and live; nothing changed.
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    await expect(page.locator("#dashboard")).to_be_visible()
    assert not await dash.ingest.queue.is_paused()
    assert (await dash.ingest.queue.get(failed)).status == Status.FAILED
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    assert lines == [
        "audit who=principal:viewer-1 action=PauseQueue target=queue result=403",
        "audit who=principal:viewer-1 action=RetryAllFailed target=all-failed result=403",
    ]
    assert dash.api_auth == {f"Bearer {viewer}"}
    dash.assert_clean(console=False)  # Chromium logs each refused call's 403


async def test_cancel_one_from_its_row_then_a_submitters_work_after_a_count(
    make_dashboard: MakeDashboard,
) -> None:
    dash = await make_dashboard()  # no worker: everything stays waiting until cancelled
    page = dash.page
    await dash.sign_in()
    mine = await dash.submit(TEXT)
    bobs = [
        (
            await dash.ingest.submissions.Submit(
                pb.SubmitRequest(submission=submission(f"{TEXT} {i}", submitter_id="bob"))
            )
        ).id
        for i in range(3)
    ]
    await expect(dash.count("waiting")).to_have_text("4")

    confirm = page.get_by_role("dialog", name=f"Cancel {mine}?")
    await page.get_by_role("button", name=f"Cancel {mine}").click()
    await expect(confirm).to_be_visible()
    await confirm.get_by_role("button", name="Keep it").click()  # changed its mind
    await expect(confirm).to_be_hidden()
    assert (await dash.ingest.queue.get(mine)).status == Status.WAITING
    await page.get_by_role("button", name=f"Cancel {mine}").click()
    await confirm.get_by_role("button", name="Cancel submission").click()
    await expect(page.get_by_role("status").filter(has_text="Cancelled")).to_have_text(
        f"Cancelled {mine}."
    )
    await expect(dash.count("cancelled")).to_have_text("1")
    await expect(page.locator("#list-rows tr")).to_have_count(3)

    await page.get_by_role("button", name="Cancel matching…").click()
    dialog = page.get_by_role("dialog", name="Cancel matching submissions")
    await dialog.get_by_label("Submitter").fill("bob")
    await dialog.get_by_role("button", name="Count").click()
    await expect(dialog.locator("#cancel-count")).to_have_text("3 submissions would be cancelled.")
    assert (await dash.ingest.queue.stats()).cancelled_total == 1  # counted, nothing more
    await dialog.get_by_role("button", name="Cancel 3 submissions").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_role("status").filter(has_text="Cancelled 3")).to_have_text(
        "Cancelled 3 submissions."
    )
    await expect(dash.count("cancelled")).to_have_text("4")
    await expect(dash.count("waiting")).to_have_text("0")
    for job_id in [mine, *bobs]:
        assert (await dash.ingest.queue.get(job_id)).status == Status.CANCELLED
    await dash.tab("Cancelled")
    await expect(page.locator("#list-rows tr")).to_have_count(4)
    await expect(page.locator("#list-rows tr").first).to_contain_text("cancelled by")
    await dash.shot("cancelled")
    dash.assert_clean()


async def test_an_active_submissions_progress_shows_and_it_is_cancelled_from_its_detail(
    make_dashboard: MakeDashboard,
) -> None:
    dash = await make_dashboard()
    page = dash.page
    queue = dash.ingest.queue
    await dash.sign_in()
    job_id = await dash.submit(TEXT)
    await queue.heartbeat("w1")
    [job] = await queue.reserve("w1")
    await queue.report([(job.id, job.token, Progress(40.0, "summarising").encode())], 0)
    await dash.tab("Active")
    row = page.locator("#list-rows tr").first
    await expect(row).to_contain_text("40% summarising")
    await expect(row.get_by_role("progressbar")).to_have_attribute("value", "40")
    await expect(page.locator("#list-error-head")).to_have_text("Progress")

    await page.get_by_role("button", name=f"Open {job_id}").click()
    detail = page.get_by_role("dialog", name=re.compile("Submission"))
    await expect(detail.locator("#detail-facts")).to_contain_text("40% summarising")
    await detail.get_by_role("button", name="Cancel submission").click()
    confirm = page.get_by_role("dialog", name=f"Cancel {job_id}?")
    await confirm.get_by_role("button", name="Cancel submission").click()
    await expect(detail.locator("#detail-status")).to_have_text("cancelled")
    assert await queue.held([(job.id, job.token)]) == [Held.CANCELLED]
    await expect(dash.count("active")).to_have_text("0")
    dash.assert_clean()
