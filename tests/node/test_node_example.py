"""examples/node/submit_batch.mjs, a grpc-js client that knows only queue.proto and the
published service config, reads every per-item outcome of SubmitBatch and every rich error
detail of a refusal; Redis, read through the Queue, agrees."""

from __future__ import annotations

from typing import Any

import pytest

from feedback_queue.env import Rate
from feedback_queue.job import Status
from tests.ingest.conftest import Ingest, StartIngest
from tests.node.conftest import RunExample
from tests.secrets import secret

TOKEN = secret("node-example-token")
DOMAIN = "feedback-queue"
# The first test to run installs the example's packages (`npm ci`, conftest.NPM_TIMEOUT).
pytestmark = pytest.mark.timeout(600)


def request(content: str, submitter: str = "node-svc", **fields: str) -> dict[str, Any]:
    """A SubmitRequest as the example reads it: JSON with queue.proto's field names."""
    return {"submission": {"submitter_id": submitter, "content": content, **fields}}


def address(ingest: Ingest) -> str:
    return f"127.0.0.1:{ingest.server.port}"


async def test_every_batch_outcome(start_ingest: StartIngest, run_example: RunExample) -> None:
    ingest = await start_ingest(grpc_token=TOKEN, max_waiting=4)
    batch = [
        request("first", idempotency_key="k1"),
        request("first", idempotency_key="k1"),  # the same key and payload: a duplicate
        request("   "),  # blank content
        request("another payload", idempotency_key="k1"),  # the same key, another payload
        request("second"),
        request("third"),
        request("fourth"),  # the fourth waiting: the cap
        request("no room"),
    ]
    lines = await run_example(address(ingest), token=TOKEN, requests=batch)

    *items, total = lines
    assert total == {"call": "SubmitBatch", "accepted": 5, "refused": 3}
    assert [line["index"] for line in items] == list(range(len(batch)))
    assert [("accepted" if "accepted" in line else "error") for line in items] == [
        *("accepted", "accepted", "error", "error"),
        *("accepted", "accepted", "accepted", "error"),
    ]
    first, dup = items[0]["accepted"], items[1]["accepted"]
    assert (first["status"], first["duplicate"]) == ("WAITING", False)
    assert (dup["id"], dup["duplicate"]) == (first["id"], True)

    blank, conflict, full = (items[i]["error"] for i in (2, 3, 7))
    assert (blank["code_name"], blank["reason"], blank["field"]) == (
        "INVALID_ARGUMENT",
        "INVALID_FIELD",
        "submission.content",
    )
    assert blank["code"] == 3
    assert blank["retry_after_ms"] is None
    assert (conflict["code_name"], conflict["reason"], conflict["field"]) == (
        "FAILED_PRECONDITION",
        "IDEMPOTENCY_KEY_CONFLICT",
        "submission.idempotency_key",
    )
    assert (full["code_name"], full["reason"], full["retry_after_ms"]) == (
        "RESOURCE_EXHAUSTED",
        "QUEUE_FULL",
        1000,
    )
    assert "FBQ_MAX_WAITING" in full["message"]

    # Redis has each accepted one, under the key the example gave it (generated when the
    # request had none), and nothing else.
    accepted = [line for line in items if "accepted" in line and not line["accepted"]["duplicate"]]
    for line in accepted:
        job = await ingest.queue.get(line["accepted"]["id"])
        assert job.status == Status.WAITING
        assert job.submission.idempotency_key == line["key"]
    assert accepted[1]["key"] not in {"", "k1"}
    stats = await ingest.queue.stats()
    assert (stats.waiting, stats.enqueued_total) == (4, 4)


async def test_a_rate_limited_item(start_ingest: StartIngest, run_example: RunExample) -> None:
    ingest = await start_ingest(grpc_token=TOKEN, submitter_rate=Rate(2, 60.0))
    batch = [request(f"essay {i}", submitter="flood") for i in range(3)]
    *items, total = await run_example(address(ingest), token=TOKEN, requests=batch)
    assert total == {"call": "SubmitBatch", "accepted": 2, "refused": 1}
    rated = items[2]["error"]
    assert (rated["code_name"], rated["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMITED")
    # GCRA: two at once, then one more every 30 s.
    assert 29_000 < rated["retry_after_ms"] <= 30_000
    for line in items[:2]:
        assert (await ingest.queue.get(line["accepted"]["id"])).status == Status.WAITING

    # Alone, the same refusal is not retried by grpc-js (the wait is past any deadline): it
    # comes back at once with its RetryInfo, not as DEADLINE_EXCEEDED ten seconds later.
    [line] = await run_example(address(ingest), "--submit", token=TOKEN, requests=batch[2:])
    refused = line["refusal"]
    assert (refused["code_name"], refused["error_info"]["reason"]) == (
        "RESOURCE_EXHAUSTED",
        "RATE_LIMITED",
    )
    assert refused["retry_info"]["retry_delay_ms"] > 2000
    assert refused["trailers"]["grpc-retry-pushback-ms"] == "-1"


async def test_unary_refusals_carry_every_detail(
    start_ingest: StartIngest, run_example: RunExample
) -> None:
    ingest = await start_ingest(grpc_token=TOKEN, max_waiting=1)
    requests = [
        request("fills the queue", idempotency_key="key"),
        request(" "),
        request("another payload", idempotency_key="key"),
        request("no room"),
    ]
    lines = await run_example(address(ingest), "--submit", token=TOKEN, requests=requests)
    assert [line["call"] for line in lines] == ["Submit"] * 4
    assert lines[0]["accepted"]["status"] == "WAITING"
    invalid, conflict, full = (line["refusal"] for line in lines[1:])

    assert invalid["code_name"] == "INVALID_ARGUMENT"
    assert invalid["error_info"] == {"reason": "INVALID_FIELD", "domain": DOMAIN, "metadata": {}}
    assert [v["field"] for v in invalid["bad_request"]] == ["submission.content"]
    assert invalid["bad_request"][0]["description"] == invalid["message"]
    assert invalid["retry_info"] is None

    assert conflict["code_name"] == "FAILED_PRECONDITION"
    assert conflict["error_info"]["reason"] == "IDEMPOTENCY_KEY_CONFLICT"
    assert [v["field"] for v in conflict["bad_request"]] == ["submission.idempotency_key"]

    assert full["code_name"] == "RESOURCE_EXHAUSTED"
    assert (full["error_info"]["reason"], full["error_info"]["domain"]) == ("QUEUE_FULL", DOMAIN)
    assert full["retry_info"] == {"retry_delay_ms": 1000}
    assert full["trailers"] == {"retry-after-ms": "1000", "grpc-retry-pushback-ms": "1000"}
    # The published service config retried it, each time after the server's 1 s pushback,
    # before handing the refusal over.
    assert lines[3]["elapsed_ms"] >= 3000
    stats = await ingest.queue.stats()
    assert (stats.waiting, stats.enqueued_total) == (1, 1)


async def test_a_batch_refused_whole(start_ingest: StartIngest, run_example: RunExample) -> None:
    ingest = await start_ingest(grpc_token=TOKEN, max_batch=3)
    batch = [request(f"essay {i}") for i in range(4)]
    [line] = await run_example(address(ingest), token=TOKEN, requests=batch)
    too_large = line["refusal"]
    assert too_large["code_name"] == "INVALID_ARGUMENT"
    assert too_large["error_info"] == {
        "reason": "BATCH_TOO_LARGE",
        "domain": DOMAIN,
        "metadata": {},
    }
    assert [v["field"] for v in too_large["bad_request"]] == ["requests"]
    assert "FBQ_MAX_BATCH" in too_large["message"]

    [line] = await run_example(address(ingest), token=None, requests=batch[:1])
    missing = line["refusal"]
    assert (missing["code_name"], missing["error_info"]["reason"]) == (
        "UNAUTHENTICATED",
        "TOKEN_MISSING",
    )
    assert (await ingest.queue.stats()).enqueued_total == 0


async def test_the_demo_as_the_readme_shows_it(
    start_ingest: StartIngest, run_example: RunExample
) -> None:
    ingest = await start_ingest(grpc_token=TOKEN)
    lines = await run_example(address(ingest), token=TOKEN, json_lines=False)
    assert len(lines) == 5
    assert "(duplicate of an earlier one)" in lines[1]
    assert "refused INVALID_ARGUMENT INVALID_FIELD: submission.content" in lines[3]
    assert lines[4] == "SubmitBatch: 3 accepted, 1 refused"
    lines = await run_example(address(ingest), "--submit", token=TOKEN, json_lines=False)
    assert lines[-2:] == [
        f"    ErrorInfo   INVALID_FIELD ({DOMAIN})",
        "    BadRequest  submission.content",
    ]
