"""Enqueue: batches, idempotency, replays, delays and validation, against a real Redis."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from feedback_queue.connection import create_client
from feedback_queue.errors import (
    Conflict,
    InvalidSubmission,
    OutOfMemory,
    QueueError,
    RateLimited,
)
from feedback_queue.job import Status, new_id
from feedback_queue.queue import Arg, EnqueueResult, Queue
from feedback_queue.queue.producing import ENQUEUE_CHUNK, pack_jobs
from feedback_queue.settings import QueueConfig, Rate
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.validation import Limits
from tests.conftest import FakeClock, redis_settings
from tests.helpers import submission


async def test_same_key_same_payload_returns_the_original(queue: Queue) -> None:
    first = await queue.enqueue(submission("essay", idempotency_key="k1"))
    again = await queue.enqueue(submission("essay", idempotency_key="k1"))
    assert again == EnqueueResult(first.id, Status.WAITING, duplicate=True)
    assert (await queue.stats()).waiting == 1


async def test_same_key_other_payload_is_refused(queue: Queue) -> None:
    await queue.enqueue(submission("essay", idempotency_key="k1"))
    with pytest.raises(Conflict, match="idempotency_key"):
        await queue.enqueue(submission("another essay", idempotency_key="k1"))
    assert (await queue.stats()).waiting == 1


async def test_duplicate_reports_the_current_status(queue: Queue) -> None:
    first = await queue.enqueue(submission("essay", idempotency_key="k1"))
    [job] = await queue.reserve("w1")
    await queue.ack("w1", [(job.id, job.token, "done")])
    again = await queue.enqueue(submission("essay", idempotency_key="k1"))
    assert again == EnqueueResult(first.id, Status.COMPLETED, duplicate=True)


async def test_idempotency_key_expires_and_is_swept(queue: Queue, clock: FakeClock) -> None:
    first = await queue.enqueue(submission("essay", idempotency_key="k1"))
    clock.advance(queue.config.idempotency_ttl + 1)
    second = await queue.enqueue(submission("essay", idempotency_key="k1"))
    assert second.id != first.id
    assert not second.duplicate
    clock.advance(queue.config.idempotency_ttl + 1)
    forgotten, _ = await queue.sweep()
    assert forgotten == 1


async def test_replayed_enqueue_script_creates_nothing_twice(
    redis_queue: Queue, client: Redis, clock: FakeClock
) -> None:
    queue = redis_queue
    # What a Redis-level retry does: the very same script call, same drawn id, sent again.
    job_id = new_id()
    payload = submission("essay", idempotency_key="k9").SerializeToString(deterministic=True)
    keys = queue.enqueue_keys()
    now = int(clock.now * 1000)
    # now, idempotency TTL, cap, rate, period; then the jobs: id, payload, key, digest, delay,
    # submitter, owner
    args: list[Arg] = [
        now,
        60_000,
        0,
        0,
        0,
        pack_jobs([(job_id, payload, "k9", "d1", 0, "s1", "", "")]),
    ]
    first = await queue.scripts.enqueue(keys=keys, args=args)
    replay = await queue.scripts.enqueue(keys=keys, args=args)
    assert first == [job_id.encode(), Status.WAITING, 0]
    assert replay == [job_id.encode(), Status.WAITING, 2]  # 2: this very id, already there
    assert len(await queue.waiting_ids()) == 1
    stats = await queue.stats()
    assert stats.enqueued_total == 1
    # Without an idempotency key the replay is recognised by the id alone.
    args2: list[Arg] = [
        now,
        60_000,
        0,
        0,
        0,
        pack_jobs([("other-id-01", payload, "", "", 0, "s1", "", "")]),
    ]
    await queue.scripts.enqueue(keys=keys, args=args2)
    assert (await queue.scripts.enqueue(keys=keys, args=args2))[2] == 2
    assert len(await queue.waiting_ids()) == 2


async def test_id_collision_with_another_payload_draws_again(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = (await queue.enqueue(submission("first"))).id
    draws = iter([[taken], ["fresh-id-0001"]])
    monkeypatch.setattr("feedback_queue.queue.producing.new_ids", lambda count: next(draws))
    result = await queue.enqueue(submission("second"))
    assert result.id == "fresh-id-0001"
    assert (await queue.get(taken)).submission.content == "first"


async def test_enqueue_many_keeps_order_and_fails_bad_items_alone(queue: Queue) -> None:
    items = [(submission(f"essay {i}"), 0.0) for i in range(600)]
    items[3] = (submission("   "), 0.0)
    items[400] = (submission("x", submitter_id="bad id!"), 0.0)
    results = await queue.enqueue_many(items)
    assert isinstance(results[3], InvalidSubmission)
    assert results[3].field == "submission.content"
    assert isinstance(results[400], InvalidSubmission)
    good = [r for r in results if isinstance(r, EnqueueResult)]
    assert len(good) == 598
    assert len({r.id for r in good}) == 598
    jobs = await queue.reserve("w1", count=600)
    assert [j.id for j in jobs] == [r.id for r in good]


async def test_delayed_submit_waits_for_its_time(queue: Queue, clock: FakeClock) -> None:
    result = await queue.enqueue(submission(), delay=30)
    assert result.status == Status.DELAYED
    job = await queue.get(result.id)
    assert job.record.run_at_ms == int((clock.now + 30) * 1000)
    assert await queue.reserve("w1") == []
    clock.advance(29)
    assert await queue.promote_due() == 0
    clock.advance(1)
    assert await queue.promote_due() == 1
    [taken] = await queue.reserve("w1")
    assert taken.id == result.id
    assert taken.record.run_at_ms == 0


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"submitter_id": ""}, "submission.submitter_id", "required"),
        ({"content": ""}, "submission.content", "required"),
        ({"content": "\n\t "}, "submission.content", "blank"),
        ({"content": "x" * 2049}, "submission.content", "at most 2048"),
        ({"metadata": {"bad key": "v"}}, "submission.metadata", "key"),
        ({"idempotency_key": "k" * 129}, "submission.idempotency_key", "128"),
    ],
)
async def test_invalid_submissions_are_refused_with_the_field(
    queue: Queue, fields: dict[str, object], field: str, message: str
) -> None:
    queue.config = dataclasses.replace(queue.config, limits=Limits(max_content_bytes=2048))
    sub = submission(**{"content": "ok", **fields})  # type: ignore[arg-type]
    with pytest.raises(InvalidSubmission, match=message) as info:
        await queue.enqueue(sub)
    assert info.value.field == field
    assert (await queue.stats()).enqueued_total == 0


async def test_negative_delay_is_refused(queue: Queue) -> None:
    with pytest.raises(InvalidSubmission, match="delay"):
        await queue.enqueue(submission(), delay=-1)


async def test_bad_page_token_is_refused(queue: Queue) -> None:
    with pytest.raises(QueueError, match="page_token"):
        await queue.list_by_status(Status.WAITING, cursor="abc")


async def test_submitter_rate_allows_a_burst_then_one_per_interval(
    queue: Queue, clock: FakeClock
) -> None:
    # 3 at once, then one every 20 s
    queue.config = dataclasses.replace(queue.config, submitter_rate=Rate(3, 60.0))
    for i in range(3):
        await queue.enqueue(submission(f"t{i}", submitter_id="eager"))
    with pytest.raises(RateLimited, match="FBQ_SUBMITTER_RATE") as info:
        await queue.enqueue(submission("t3", submitter_id="eager"))
    assert info.value.retry_after == pytest.approx(20.0, abs=0.01)
    # Other submitters are not affected; duplicates cost nothing.
    await queue.enqueue(submission("t0", submitter_id="calm"))
    clock.advance(19.9)
    with pytest.raises(RateLimited):
        await queue.enqueue(submission("t3", submitter_id="eager"))
    clock.advance(0.2)
    await queue.enqueue(submission("t3", submitter_id="eager"))
    assert (await queue.stats()).waiting == 5


async def test_redis_full_mid_batch_fails_only_what_it_did_not_write(
    make_server: Callable[[], EmbeddedRedis], queue_name: str
) -> None:
    """The first chunk fits, the second meets maxmemory: the first keeps its results (the
    callers must not be told "refused" about submissions that are queued), the rest fail."""
    server = make_server()
    client = create_client(redis_settings(server))
    try:
        queue = Queue(client, QueueConfig(name=queue_name))
        await queue.enqueue(submission("loads the scripts and creates the keys"))
        await client.config_set("maxmemory-policy", "noeviction")
        used = int((await client.info("memory"))["used_memory"])
        # While a chunk runs, its argument and its unpacked copy in Lua count (~2 x 0.5 MB; the
        # window that splits the batch is 1.1-2 MB on Redis 7):
        # room for one chunk, not for one more beside the first one's records.
        await client.config_set("maxmemory", used + 1550 * 1024)
        items = [(submission(f"{i:04d} " + "x" * 2000), 0.0) for i in range(2 * ENQUEUE_CHUNK)]
        results = await queue.enqueue_many(items)
        await client.config_set("maxmemory", 0)
        written = [r for r in results if isinstance(r, EnqueueResult)]
        refused = [r for r in results if isinstance(r, OutOfMemory)]
        assert (len(written), len(refused)) == (ENQUEUE_CHUNK, ENQUEUE_CHUNK)
        assert all(isinstance(r, EnqueueResult) for r in results[:ENQUEUE_CHUNK])
        assert (await queue.stats()).enqueued_total == 1 + ENQUEUE_CHUNK
        for result in written:
            assert (await queue.get(result.id)).status == Status.WAITING
    finally:
        await client.aclose()
