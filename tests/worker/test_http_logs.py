"""The HTTP processor's API key and the model service's answers stay out of the worker's log
(#21 finding 7): a real worker process, a real model service on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from feedback_queue.job import Status
from feedback_queue.queue import Queue
from tests.helpers import submission
from tests.secrets import secret, seen
from tests.worker.conftest import StartWorker

API_KEY = secret("model-api-key-5c0ffee1")
GRADED = "A private essay 7f3a about my grandmother's house."
REFUSED = "A private essay 91b2 the model will not take."


class _ModelService(BaseHTTPRequestHandler):
    """Grades one essay; refuses the other with a body that quotes it, as real services do."""

    answered: ClassVar[threading.Semaphore] = threading.Semaphore(0)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        content = body["submission"]["content"]
        if content == REFUSED:
            status, reply = 422, f"cannot grade {content!r}".encode()
        else:
            status, reply = 200, json.dumps({"feedback": f"you wrote {content!r}"}).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
        self.answered.release()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def model_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/grade?api_key={API_KEY}"
    server.shutdown()
    server.server_close()


def _both_answered() -> bool:
    return all(_ModelService.answered.acquire(timeout=30) for _ in range(2))


async def test_the_api_key_and_the_answers_stay_out_of_the_log(
    start_worker: StartWorker, queue: Queue, model_url: str
) -> None:
    graded = (await queue.enqueue(submission(GRADED))).id
    refused = (await queue.enqueue(submission(REFUSED))).id
    worker = start_worker(FBQ_PROCESSOR="http", FBQ_PROCESSOR_URL=model_url)
    await worker.ready()
    assert await asyncio.to_thread(_both_answered), worker.output
    worker.terminate()  # outcomes are written before it exits
    assert await worker.exit_code() == 0, worker.output
    log = worker.output
    seen(log)
    assert (await queue.get(graded)).status == Status.COMPLETED
    failed = await queue.get(refused)
    assert failed.status == Status.FAILED
    # The refusal's body stays with the submission, for those who may read it...
    assert "cannot grade 'A private essay 91b2" in failed.record.error
    # ...and the log says what happened without it, without the key and without the content.
    assert f"job {refused} attempt 1 failed: PermanentError: " in log
    assert "HTTP 422" in log
    for private in (API_KEY, "api_key", "7f3a", "91b2", "cannot grade"):
        assert private not in log, f"{private!r} in the worker's log:\n{log}"
