"""The dashboard's files as HTTP serves them: no token needed, a tight CSP, nothing inline."""

from __future__ import annotations

import re

import pytest

from gateway.app import CONTENT_SECURITY_POLICY
from gateway.dashboard import STATIC
from tests.gateway.conftest import AUTH, Stack

ASSETS = {
    "/admin/static/dashboard.js": "javascript",
    "/admin/static/api.js": "javascript",
    "/admin/static/chart.js": "javascript",
    "/admin/static/dom.js": "javascript",
    "/admin/static/fairshare.js": "javascript",
    "/admin/static/dashboard.css": "text/css",
    "/admin/static/favicon.svg": "image/svg+xml",
}


async def test_the_page_and_its_files_need_no_token_and_carry_the_csp(stack: Stack) -> None:
    page = await stack.http.get("/admin")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/admin/static/dashboard.js">' in page.text
    for path, kind in ASSETS.items():
        reply = await stack.http.get(path)
        assert reply.status_code == 200, path
        assert kind in reply.headers["content-type"], path
    for reply in (page, await stack.http.get("/api/admin/queue/stats", headers=AUTH)):
        assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["cache-control"] == "no-store"
        assert reply.headers["x-content-type-options"] == "nosniff"
    # The files are public; the data is not.
    assert (await stack.http.get("/api/admin/queue/stats")).status_code == 401


def test_the_csp_allows_only_what_the_page_needs() -> None:
    policy = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert policy[directive] == "'self'", directive
    assert policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_no_inline_script_style_or_eval_in_the_files() -> None:
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers"
    for script in STATIC.glob("*.js"):
        code = script.read_text()
        for banned in ("eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML"):
            assert banned not in code, f"{script.name}: {banned}"
        assert "localStorage" not in code, f"{script.name}: the token belongs in sessionStorage"


@pytest.mark.parametrize("path", ["/", "/admin/"])
async def test_the_root_leads_to_the_dashboard(stack: Stack, path: str) -> None:
    reply = await stack.http.get(path)
    assert (reply.status_code, reply.headers["location"]) == (307, "/admin")


async def test_a_missing_file_is_a_problem_404(stack: Stack) -> None:
    for path in ("/admin/static/nothing.js", "/admin/static/../app.py"):
        reply = await stack.http.get(path)
        assert reply.status_code == 404, path
        assert reply.headers["content-type"] == "application/problem+json"
