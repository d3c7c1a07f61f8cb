"""The dashboard's Fair share panel in headless Chromium against a real stack: the keys with
the most waiting work, and an operator changing a key's quota with real clicks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from playwright.async_api import expect

from feedback_queue.credentials import Credentials, Role, add
from feedback_queue.v1 import queue_pb2 as pb
from tests.dashboard.conftest import PHONE, Dashboard, MakeDashboard
from tests.dashboard.test_dashboard import CONTRAST_FAILURES
from tests.helpers import submission
from tests.secrets import secret


async def submit(dash: Dashboard, counts: dict[str, int]) -> None:
    requests = [
        pb.SubmitRequest(submission=submission(f"{key} {i}", submitter_id=key))
        for key, n in counts.items()
        for i in range(n)
    ]
    reply = await dash.ingest.submissions.SubmitBatch(pb.SubmitBatchRequest(requests=requests))
    assert reply.accepted == len(requests)


async def test_an_operator_changes_a_keys_quota_and_resets_it(
    make_dashboard: MakeDashboard,
) -> None:
    dash = await make_dashboard()
    page = dash.page
    await submit(dash, {"school-a": 4, "school-b": 2, "learner-9": 1})
    await dash.sign_in()
    rows = page.locator("#fair-rows tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_have_attribute("data-key", "school-a")
    await expect(rows.nth(0).get_by_role("cell")).to_have_text(
        ["school-a", "4", "0", "0", "1 (default)", "no limit", "no limit", "Edit quota"]
    )
    await expect(page.locator("#fair-summary")).to_have_text(
        "3 keys with waiting work; waiting by priority: high 0, normal 7, low 0."
    )
    await expect(page.locator("#fair-defaults")).to_have_text(
        "Defaults: weight 1, rate no limit, max active no limit; 0 keys with a quota of its own."
    )

    await page.get_by_role("button", name="Edit quota of school-b").click()
    dialog = page.get_by_role("dialog", name="Quota of school-b")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Weight")).to_be_focused()
    await expect(dialog.get_by_label("Fairness key")).to_have_value("school-b")
    # A value only the core can judge: refused, said in the dialog, which stays open.
    await dialog.get_by_label("Weight").fill("0")
    await dialog.get_by_role("button", name="Save quota").click()
    await expect(dialog.get_by_role("alert")).to_have_text(
        "Not saved: weight: must be from 0.001 to 1000"
    )
    await dialog.get_by_label("Weight").fill("3")
    await dialog.get_by_label("Rate (starts/s)").fill("2.5")
    await dialog.get_by_label("Max active").fill("2")
    await dash.shot("fair-share-edit")
    await dialog.get_by_label("Max active").press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_role("status")).to_have_text(
        "Quota of school-b: weight 3, rate 2.5/s, max active 2."
    )
    row = page.locator('#fair-rows tr[data-key="school-b"]')
    await expect(row.get_by_role("cell")).to_have_text(
        ["school-b", "2", "0", "0", "3", "2.5/s", "2", "Edit quota"]
    )
    # The focus is back on the button that opened the dialog.
    await expect(page.get_by_role("button", name="Edit quota of school-b")).to_be_focused()
    share = await dash.ingest.queue.fair_share()
    assert share.quotas["school-b"].weight == 3
    assert (share.quotas["school-b"].rate, share.quotas["school-b"].max_active) == (2.5, 2)
    await dash.shot("fair-share")

    # A key with no work yet, from the panel's own button.
    await page.get_by_role("button", name="Set a key's quota").click()
    dialog = page.get_by_role("dialog", name="Set a key's quota")
    await expect(dialog.get_by_label("Fairness key")).to_be_focused()
    await dialog.get_by_label("Fairness key").fill("tenant:paid")
    await dialog.get_by_label("Weight").fill("8")
    await dialog.get_by_role("button", name="Save quota").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Quota of tenant:paid: weight 8, rate no limit, max active no limit."
    )
    await expect(page.locator("#fair-defaults")).to_contain_text("2 keys with a quota of its own")

    await page.get_by_role("button", name="Edit quota of school-b").click()
    dialog = page.get_by_role("dialog", name="Quota of school-b")
    await dialog.get_by_role("button", name="Reset to defaults").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Quota of school-b: weight 1, rate no limit, max active no limit (the defaults)."
    )
    await expect(row.get_by_role("cell").nth(4)).to_have_text("1 (default)")
    assert "school-b" not in (await dash.ingest.queue.fair_share()).quotas
    dash.assert_clean(console=False)  # the refused weight logs its 400


async def test_a_viewer_sees_the_keys_but_its_quota_change_is_refused(
    make_dashboard: MakeDashboard, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "credentials"
    viewer = secret(add(path, "viewer-1", Role.VIEWER))
    dash = await make_dashboard(credentials=Credentials.load(path))
    page = dash.page
    await submit(dash, {"school-a": 2})
    caplog.set_level(logging.INFO, logger="fbq.audit")
    await dash.sign_in(viewer)
    await expect(page.locator("#fair-rows tr")).to_have_count(1)
    await page.get_by_role("button", name="Edit quota of school-a").click()
    dialog = page.get_by_role("dialog", name="Quota of school-a")
    await dialog.get_by_label("Weight").fill("5")
    await dialog.get_by_role("button", name="Save quota").click()
    await expect(dialog.get_by_role("alert")).to_have_text(
        "Not saved: principal viewer-1 is a viewer, which may only look: SetKeyQuota needs an "
        "operator or admin credential"
    )
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    assert (await dash.ingest.queue.fair_share()).quotas == {}
    lines = [r.getMessage() for r in caplog.records if r.name == "fbq.audit"]
    assert lines == [
        "audit who=principal:viewer-1 action=SetKeyQuota target=key:school-a result=403"
    ]
    dash.assert_clean(console=False)  # Chromium logs the refused call's 403


async def test_the_panel_and_its_dialog_fit_a_phone(make_dashboard: MakeDashboard) -> None:
    dash = await make_dashboard()
    page = dash.page
    await page.set_viewport_size(PHONE)
    await submit(dash, {"a-rather-long-fairness-key:of-a-tenant@school.example": 2, "b": 1})
    await dash.sign_in()
    await expect(page.locator("#fair-rows tr")).to_have_count(2)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await page.get_by_role("button", name="Edit quota of b").click()
    dialog = page.get_by_role("dialog", name="Quota of b")
    await expect(dialog).to_be_visible()
    box = await dialog.bounding_box()
    assert box is not None
    assert 0 <= box["x"] <= box["x"] + box["width"] <= PHONE["width"]
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        assert await page.evaluate(CONTRAST_FAILURES) == []
    await dash.shot("phone-fair-share-dialog", full_page=False)
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("button", name="Edit quota of b")).to_be_focused()
    # Saved untouched: nothing is sent, the key keeps the defaults.
    await page.get_by_role("button", name="Edit quota of b").click()
    await dialog.get_by_role("button", name="Save quota").click()
    await expect(page.get_by_role("status")).to_have_text("Nothing changed: b keeps its quota.")
    assert (await dash.ingest.queue.fair_share()).quotas == {}
    assert await page.evaluate(CONTRAST_FAILURES) == []
    await dash.shot("phone-fair-share-dark")
    dash.assert_clean()
