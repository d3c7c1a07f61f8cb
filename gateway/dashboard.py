"""The browser dashboard at /admin: one HTML page and its static CSS and JavaScript.

The files need no token (they hold no data); the page asks for the admin token and sends it as a
Bearer header on every API call. Their Content-Security-Policy is set by app.SecurityHeaders.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
PAGE = "/admin"


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


async def to_page(request: Request) -> Response:
    return RedirectResponse(PAGE, status_code=307)


def routes() -> list[BaseRoute]:
    """/admin (the page), /admin/static/* (its files), and / and /admin/ leading to it."""
    return [
        Route(PAGE, page),
        Route(f"{PAGE}/", to_page),
        Route("/", to_page),
        # check_dir: a wheel built without the static files fails at start, not on first visit.
        Mount(f"{PAGE}/static", StaticFiles(directory=STATIC, check_dir=True), name="static"),
    ]
