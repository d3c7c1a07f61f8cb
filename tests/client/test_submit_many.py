"""submit_many: chunks by count and by bytes, one outcome per item in input order."""

from __future__ import annotations

import pytest

from feedback_queue.client import (
    NO_RETRIES,
    AsyncClient,
    Backpressure,
    BatchLimits,
    Conflict,
    InvalidArgument,
    Status,
    Submission,
    SubmitFailed,
    Submitted,
)
from feedback_queue.env import Rate
from tests.client.conftest import Calls, address
from tests.ingest.conftest import Ingest, StartIngest


async def test_chunks_of_at_most_the_batch_limit(
    aclient: AsyncClient, ingest: Ingest, calls: Calls
) -> None:
    items = [Submission(f"essay number {i}", f"s{i % 7}") for i in range(2500)]
    results = await aclient.submit_many(items)
    assert sorted(calls.batches) == [500, 1000, 1000]
    assert calls.submits == 0
    assert all(isinstance(r, Submitted) for r in results)
    # In input order: each answer is its own item's.
    for item, result in zip(items, results, strict=True):
        assert isinstance(result, Submitted)
        assert result.idempotency_key == item.idempotency_key
    sample = results[1234]
    assert isinstance(sample, Submitted)
    assert (await ingest.queue.get(sample.id)).submission.content == "essay number 1234"
    assert (await ingest.queue.stats()).waiting == 2500

    again = await aclient.submit_many(items)  # the same objects: nothing new
    assert all(isinstance(r, Submitted) and r.duplicate for r in again)
    assert (await ingest.queue.stats()).enqueued_total == 2500


async def test_chunks_by_bytes_and_by_count(ingest: Ingest, calls: Calls) -> None:
    limits = BatchLimits(max_items=4, max_bytes=3000)
    async with AsyncClient(address(ingest), limits=limits) as client:
        big = [Submission("x" * 900 + str(i), "s1") for i in range(7)]
        small = [Submission(f"small {i}", "s1") for i in range(9)]
        results = await client.submit_many([*big, *small])
    assert all(isinstance(r, Submitted) for r in results)
    assert max(calls.batch_bytes) <= 3000
    # 900-byte items: three fit in 3,000 bytes, then the 7th with three small ones (count).
    assert sorted(calls.batches) == [2, 3, 3, 4, 4]
    assert (await ingest.queue.stats()).waiting == 16


async def test_every_per_item_outcome(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(max_content_bytes=1024, submitter_rate=Rate(2, 60.0))
    items = [
        Submission("first", "s1", idempotency_key="k1"),
        Submission(" ", "s2"),  # blank content
        Submission("first", "s1", idempotency_key="k1"),  # duplicate
        Submission("other text", "s1", idempotency_key="k1"),  # key conflict
        Submission("x" * 2000, "s3"),  # over max_content_bytes
        Submission("s1's second within its rate", "s1", delay=60),
        Submission("s1's third: over the rate", "s1"),
    ]
    async with AsyncClient(address(ingest), retry=NO_RETRIES) as client:
        results = await client.submit_many(items)
    first, blank, dup, conflict, big, delayed, rated = results
    assert isinstance(first, Submitted)
    assert isinstance(dup, Submitted)
    assert (dup.id, dup.duplicate, first.duplicate) == (first.id, True, False)
    assert isinstance(delayed, Submitted)
    assert delayed.status == Status.DELAYED
    for failed in (blank, conflict, big, rated):
        assert isinstance(failed, SubmitFailed)
    assert isinstance(blank, SubmitFailed)
    assert blank.submission is items[1]
    assert isinstance(blank.error, InvalidArgument)
    assert (blank.error.reason, blank.error.field) == ("INVALID_FIELD", "submission.content")
    assert str(blank.error) == "submission.content: required and must not be blank"
    assert isinstance(big, SubmitFailed)
    assert big.error.field == "submission.content"
    assert "1024" in str(big.error)
    assert isinstance(conflict, SubmitFailed)
    assert isinstance(conflict.error, Conflict)
    assert conflict.error.reason == "IDEMPOTENCY_KEY_CONFLICT"
    assert isinstance(rated, SubmitFailed)
    assert isinstance(rated.error, Backpressure)
    assert rated.error.reason == "RATE_LIMITED"
    assert rated.error.retry_after is not None
    assert rated.error.retry_after > 0
    assert (await ingest.queue.stats()).enqueued_total == 2  # first and delayed


async def test_queue_full_refuses_only_the_items_over_the_cap(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(max_waiting=3)
    async with AsyncClient(address(ingest)) as client:
        results = await client.submit_many(Submission(f"essay {i}", "s1") for i in range(5))
    assert [type(r) for r in results] == [Submitted] * 3 + [SubmitFailed] * 2
    for refused in results[3:]:
        assert isinstance(refused, SubmitFailed)
        assert isinstance(refused.error, Backpressure)
        assert (refused.error.reason, refused.error.retry_after) == ("QUEUE_FULL", 1.0)


async def test_nothing_to_submit(aclient: AsyncClient, calls: Calls) -> None:
    assert await aclient.submit_many([]) == []
    assert calls.batches == []


async def test_a_failed_call_raises(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(max_batch=2)
    async with AsyncClient(address(ingest), limits=BatchLimits(max_items=3)) as client:
        with pytest.raises(InvalidArgument, match="FBQ_MAX_BATCH"):
            await client.submit_many(Submission(f"essay {i}", "s1") for i in range(3))
