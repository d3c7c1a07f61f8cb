"""The dashboard's stack for browser tests: the tests' Redis, a real ingest server, a real worker
process, the gateway under uvicorn on a port it can leave and come back to, and headless Debian
Chromium driven by Playwright (never a downloaded browser: `playwright install` is not needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import pytest
import uvicorn
from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    ViewportSize,
    async_playwright,
    expect,
)

from feedback_queue.credentials import Credentials
from feedback_queue.queue import Failure
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.v1 import queue_pb2 as pb
from gateway.app import create_app
from gateway.client import IngestClient
from tests.gateway.conftest import TOKEN, stack, start_stack  # noqa: F401  (shared fixtures)
from tests.helpers import submission
from tests.ingest.conftest import Ingest, StartIngest, start_ingest  # noqa: F401  (shared fixture)
from tests.worker.conftest import StartWorker, WorkerProcess, start_worker, worker_env  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).with_name("artifacts")
# Chromium's own background traffic is refused by a closed network: switch it all off.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}
# The page refreshes every 2 s and backs off to 8 s during an outage.
expect.set_options(timeout=20_000)


class Gateway:
    """The gateway app served by uvicorn on one port, stopped and started again at will."""

    def __init__(
        self, ingest_address: str, token: str, credentials: Credentials | None = None
    ) -> None:
        self.ingest_address = ingest_address
        self.token = token
        self.credentials = credentials
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, token: str | None = None) -> None:
        if token is not None:
            self.token = token
        # A socket that already listens: requests wait in its backlog until uvicorn serves.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        client = IngestClient(self.ingest_address, deadline=3.0)
        app = create_app(client, token=self.token, credentials=self.credentials)
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        )
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None


@dataclass
class Dashboard:
    """One browser tab on the dashboard of one stack, and the handles a test drives it with."""

    ingest: Ingest
    gateway: Gateway
    context: BrowserContext
    page: Page
    cure: Path  # once it exists, tests.up.processor stops failing POISON pieces
    worker: WorkerProcess | None = None
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    request_urls: list[str] = field(default_factory=list)
    api_auth: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"{self.gateway.url}/admin"

    def watch(self, page: Page) -> None:
        """Record the page's errors and requests, for the checks every test ends with."""
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)
        page.on("request", self._request)

    def _request(self, request: Request) -> None:
        self.request_urls.append(request.url)
        if "/api/" in request.url:
            self.api_auth.add(request.headers.get("authorization", ""))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    async def open(self) -> None:
        await self.page.goto(self.url)
        await expect(self.page.get_by_role("button", name="Sign in")).to_be_enabled()

    async def sign_in(self, token: str = TOKEN) -> None:
        await self.open()
        await self.page.get_by_label("Admin token").fill(token)
        await self.page.get_by_role("button", name="Sign in").click()
        await expect(self.page.locator("#live")).to_have_attribute("data-state", "live")

    def count(self, state: str) -> Locator:
        return self.page.locator(f"#count-{state}")

    async def tab(self, name: str) -> None:
        await self.page.get_by_role("tab", name=re.compile(f"^{name}")).click()

    async def submit(self, content: str) -> str:
        """Through ingest's real Submit RPC, as a producer does."""
        reply = await self.ingest.submissions.Submit(
            pb.SubmitRequest(submission=submission(content))
        )
        return reply.id

    async def shot(self, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def csp_violations(self) -> list[str]:
        return [e for e in self.console_errors if "Content Security Policy" in e]

    def assert_clean(self, *, console: bool = True) -> None:
        """No script error, no CSP violation, and (unless an outage was staged) no console error
        at all; the token never in a URL."""
        assert self.page_errors == []
        assert self.csp_violations() == []
        if console:
            assert self.console_errors == []
        assert not [u for u in self.request_urls if TOKEN in u]


MakeDashboard = Callable[..., Awaitable[Dashboard]]


async def wait_ready(http: httpx.AsyncClient) -> None:
    """Until the gateway answers /healthz; its socket listens already, so one try waits."""
    reply = await http.get("/healthz")
    assert reply.status_code == 200


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium, or a failure that says how to get it (never a silent skip)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the dashboard tests drive Debian's chromium. "
            "Run `python3 dev.py system` to install it."
        )
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path, tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """Headless Debian Chromium with a fresh profile."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=LAPTOP,
            locale="en-GB",
            timezone_id="UTC",
        )
        yield context
        await context.close()


@pytest.fixture
async def make_dashboard(
    start_ingest: StartIngest,  # noqa: F811
    start_worker: StartWorker,  # noqa: F811
    browser: BrowserContext,
    queue_name: str,
    tmp_path: Path,
) -> AsyncIterator[MakeDashboard]:
    """Build a stack (on `redis`, else the tests' Redis) and a tab on its dashboard; `worker`
    starts a real worker process running tests.up.processor on the same queue; `credentials`
    gives the gateway tokens with roles besides TOKEN."""
    dashboards: list[Dashboard] = []

    async def make(
        redis: EmbeddedRedis | None = None,
        *,
        worker: bool = False,
        credentials: Credentials | None = None,
    ) -> Dashboard:
        ingest = await start_ingest(redis, queue=queue_name)
        gateway = Gateway(f"127.0.0.1:{ingest.server.port}", TOKEN, credentials)
        await gateway.start()
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            await wait_ready(http)
        page = browser.pages[0] if browser.pages else await browser.new_page()
        dash = Dashboard(ingest, gateway, browser, page, tmp_path / "cured")
        dash.watch(page)
        if worker:
            dash.worker = start_worker(
                FBQ_PROCESSOR="tests.up.processor:process", UP_TEST_CURE=str(dash.cure)
            )
            await dash.worker.ready()
        dashboards.append(dash)
        return dash

    yield make
    for dash in dashboards:
        await dash.gateway.stop()
        if dash.worker is not None and dash.worker.process.poll() is None:
            dash.worker.terminate()
            await dash.worker.exit_code()


async def submit_failed(dash: Dashboard, content: str) -> str:
    """A submission that fails for good at once, without a worker: taken and failed by hand
    (so nothing else may be waiting: the take is FIFO)."""
    queue = dash.ingest.queue
    job_id = await dash.submit(content)
    jobs = (await queue.take("hand", 1)).jobs
    assert [j.id for j in jobs] == [job_id]
    await queue.fail("hand", [Failure(jobs[0], "poisoned piece", permanent=True)])
    return job_id


async def not_found(dash: Dashboard, job_id: str) -> bool:
    try:
        await dash.ingest.submissions.GetSubmission(pb.GetSubmissionRequest(id=job_id))
    except grpc.aio.AioRpcError as error:
        return error.code() == grpc.StatusCode.NOT_FOUND
    return False
