"""The life of a job through the core queue, against a real Redis."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from redis.asyncio import Redis

from feedback_queue.errors import Conflict, NotFound, QueueFull
from feedback_queue.job import Status
from feedback_queue.outcomes import Acked
from feedback_queue.queue import Failure, Queue
from feedback_queue.settings import Rate
from tests.conftest import FakeClock
from tests.helpers import submission


async def test_enqueue_then_get(queue: Queue, clock: FakeClock) -> None:
    result = await queue.enqueue(submission("hello", kind="essay", metadata={"course": "c1"}))
    assert result.status == Status.WAITING
    assert not result.duplicate
    job = await queue.get(result.id)
    assert job.status == Status.WAITING
    assert job.attempts == 0
    assert job.submission.content == "hello"
    assert dict(job.submission.metadata) == {"course": "c1"}
    assert job.record.enqueued_ms == int(clock.now * 1000)


async def test_get_unknown_id_is_not_found(queue: Queue) -> None:
    with pytest.raises(NotFound, match="no submission with id 'nope'"):
        await queue.get("nope")


async def test_reserve_is_fifo_and_marks_active(queue: Queue) -> None:
    ids = [(await queue.enqueue(submission(f"text {i}"))).id for i in range(5)]
    first = await queue.reserve("w1", count=2)
    rest = await queue.reserve("w1", count=10)
    assert [j.id for j in first + rest] == ids
    assert all(j.status == Status.ACTIVE and j.attempts == 1 for j in first + rest)
    assert all(j.record.worker == "w1" for j in first + rest)
    stats = await queue.stats()
    assert (stats.waiting, stats.active) == (0, 5)  # taking registered w1: its jobs show


async def test_idle_reserve_blocks_until_a_job_arrives(queue: Queue) -> None:
    taker = asyncio.create_task(queue.reserve("w1", count=4, block=5.0))
    await asyncio.sleep(0)  # let the reserve start its wait before the job exists
    result = await queue.enqueue(submission())
    jobs = await taker
    assert [j.id for j in jobs] == [result.id]
    assert jobs[0].status == Status.ACTIVE
    assert (await queue.get(result.id)).status == Status.ACTIVE


async def test_idle_reserve_returns_empty_after_block(queue: Queue) -> None:
    assert await queue.reserve("w1", block=0.1) == []


async def test_ack_completes_with_result(queue: Queue) -> None:
    await queue.heartbeat("w1")
    await queue.enqueue(submission())
    [job] = await queue.reserve("w1")
    assert await queue.ack("w1", [(job.id, job.token, '{"ok": true}')]) == [Acked.COMPLETED]
    done = await queue.get(job.id)
    assert done.status == Status.COMPLETED
    assert done.record.result == '{"ok": true}'
    assert done.record.finished_ms > 0
    assert (await queue.list_by_status(Status.ACTIVE)).total == 0
    # A replayed ack changes nothing and counts nothing twice.
    assert await queue.ack("w1", [(job.id, job.token, "other")]) == [Acked.ALREADY]
    assert (await queue.get(job.id)).record.result == '{"ok": true}'
    assert (await queue.stats()).completed == 1


async def test_completed_job_expires_after_retention(redis_queue: Queue, client: Redis) -> None:
    result = await redis_queue.enqueue(submission())
    [job] = await redis_queue.reserve("w1")
    await redis_queue.ack("w1", [(job.id, job.token, "ok")])
    ttl = await client.pttl(redis_queue.keys.job(result.id))
    assert 0 < ttl <= 3600 * 1000
    assert await client.llen(redis_queue.keys.active("w1")) == 0


async def test_transient_failure_backs_off_then_dead_letters(
    queue: Queue, clock: FakeClock
) -> None:
    result = await queue.enqueue(submission())
    delays = []
    for attempt in (1, 2):
        [job] = await queue.reserve("w1")
        assert job.attempts == attempt
        [status] = await queue.fail("w1", [Failure(job, f"timeout #{attempt}")])
        assert status == Status.DELAYED
        delayed = await queue.get(result.id)
        assert delayed.status == Status.DELAYED
        delay = (delayed.record.run_at_ms - clock.now * 1000) / 1000
        ceiling = queue.config.backoff.ceiling(attempt)
        assert ceiling / 2 <= delay <= ceiling
        delays.append(delay)
        assert await queue.reserve("w1") == []  # not due yet
        assert await queue.promote_due() == 0
        clock.advance(delay)
        assert await queue.promote_due() == 1
    backoff = queue.config.backoff
    assert delays[1] > delays[0] * 0.99 or backoff.ceiling(2) > backoff.ceiling(1)
    [job] = await queue.reserve("w1")
    assert job.attempts == 3
    [status] = await queue.fail("w1", [Failure(job, "still broken")])
    assert status == Status.FAILED
    dead = await queue.get(result.id)
    assert dead.status == Status.FAILED
    assert dead.record.error == "still broken"
    stats = await queue.stats()
    assert (stats.failed, stats.delayed, stats.waiting, stats.retried_total) == (1, 0, 0, 2)


async def test_permanent_failure_dead_letters_at_once(queue: Queue) -> None:
    await queue.enqueue(submission())
    [job] = await queue.reserve("w1")
    assert await queue.fail("w1", [Failure(job, "bad input", permanent=True)]) == [Status.FAILED]
    assert (await queue.get(job.id)).attempts == 1


async def test_replayed_fail_is_stale(queue: Queue) -> None:
    await queue.enqueue(submission())
    [job] = await queue.reserve("w1")
    assert await queue.fail("w1", [Failure(job, "x")]) == [Status.DELAYED]
    assert await queue.fail("w1", [Failure(job, "x")]) == [None]
    assert (await queue.stats()).retried_total == 1


async def test_pause_stops_both_reserve_paths(queue: Queue) -> None:
    await queue.pause()
    assert await queue.is_paused()
    await queue.enqueue(submission())
    assert await queue.reserve("w1", count=5) == []
    assert await queue.reserve("w1", block=0.1) == []
    assert (await queue.stats()).waiting == 1
    await queue.resume()
    assert len(await queue.reserve("w1")) == 1


async def test_pause_while_blocked_hands_the_job_back(queue: Queue) -> None:
    # The enqueue wakes the waiting worker; its take sees the pause flag and starts nothing.
    await queue.heartbeat("w1")
    taker = asyncio.create_task(queue.reserve("w1", block=5.0))
    await asyncio.sleep(0)
    await queue.pause()
    result = await queue.enqueue(submission())
    assert await taker == []
    assert [j.id for j in (await queue.list_by_status(Status.WAITING)).jobs] == [result.id]
    assert (await queue.list_by_status(Status.ACTIVE)).total == 0
    assert (await queue.get(result.id)).attempts == 0


async def test_retry_and_delete(queue: Queue) -> None:
    ok = await queue.enqueue(submission("fine"))
    await queue.enqueue(submission("poison"))
    [first, second] = await queue.reserve("w1", count=2)
    await queue.fail("w1", [Failure(second, "boom", permanent=True)])
    with pytest.raises(Conflict, match="not FAILED"):
        await queue.retry(first.id)
    with pytest.raises(Conflict, match="being processed"):
        await queue.delete(first.id)
    await queue.retry(second.id)
    again = await queue.get(second.id)
    assert (again.status, again.attempts) == (Status.WAITING, 0)
    await queue.delete(second.id)
    with pytest.raises(NotFound):
        await queue.get(second.id)
    with pytest.raises(NotFound):
        await queue.delete(second.id)
    with pytest.raises(NotFound):
        await queue.retry("missing")
    assert (await queue.stats()).waiting == 0
    assert ok.id == first.id


async def test_retry_all_failed(queue: Queue) -> None:
    for i in range(7):
        await queue.enqueue(submission(f"p{i}"))
    jobs = await queue.reserve("w1", count=7)
    await queue.fail("w1", [Failure(j, "boom", permanent=True) for j in jobs])
    assert await queue.retry_all_failed(chunk=3) == 7
    stats = await queue.stats()
    assert (stats.failed, stats.waiting) == (0, 7)


async def test_max_waiting_refuses_and_accepts_nothing(queue: Queue) -> None:
    queue.config = dataclasses.replace(queue.config, max_waiting=2)
    await queue.enqueue(submission("a"))
    await queue.enqueue(submission("b"))
    with pytest.raises(QueueFull, match="FBQ_MAX_WAITING"):
        await queue.enqueue(submission("c"))
    assert (await queue.stats()).waiting == 2


async def test_take_says_why_it_returns_nothing(queue: Queue) -> None:
    await queue.enqueue(submission())
    await queue.pause()
    taken = await queue.take("w1", 5)
    assert (taken.jobs, taken.paused, taken.wait) == ([], True, 0.0)
    await queue.resume()
    assert len((await queue.take("w1", 5)).jobs) == 1
    empty = await queue.take("w1", 5)
    assert (empty.jobs, empty.paused, empty.wait) == ([], False, 0.0)


async def test_global_rate_limit_is_shared_by_all_workers(queue: Queue, clock: FakeClock) -> None:
    # 4 at once, then one every 250 ms
    queue.config = dataclasses.replace(queue.config, rate_limit=Rate(4, 1.0))
    for i in range(20):
        await queue.enqueue(submission(f"t{i}"))
    started = len((await queue.take("w1", 3)).jobs) + len((await queue.take("w2", 10)).jobs)
    assert started == 4
    limited = await queue.take("w1", 10)
    assert limited.jobs == []
    assert limited.wait == pytest.approx(0.25, abs=0.002)
    clock.advance(0.25)
    assert len((await queue.take("w2", 10)).jobs) == 1
    # Then one start per 250 ms across both workers, however much they ask for.
    per_tick = []
    for _ in range(20):
        clock.advance(0.25)
        per_tick.append(sum([len((await queue.take(w, 10)).jobs) for w in ("w1", "w2")]))
    assert per_tick == [1] * 15 + [0] * 5  # 4 + 1 + 15 = all 20, at the limited pace


async def test_rate_limit_and_pause_on_the_idle_path(queue: Queue, clock: FakeClock) -> None:
    queue.config = dataclasses.replace(queue.config, rate_limit=Rate(1, 10.0))
    await queue.enqueue(submission("a"))
    assert len((await queue.wait_for_work("w1", 1, 1.0)).jobs) == 1
    second = await queue.enqueue(submission("b"))
    limited = await queue.wait_for_work("w1", 1, 1.0)
    assert limited.jobs == []
    assert limited.wait == pytest.approx(10.0, abs=0.01)
    # Left in line, untouched.
    assert (await queue.get(second.id)).status == Status.WAITING
    assert (await queue.get(second.id)).attempts == 0
    clock.advance(10)
    assert [j.id for j in (await queue.wait_for_work("w1", 1, 1.0)).jobs] == [second.id]


async def test_ack_take_completes_and_takes_in_one_call(queue: Queue) -> None:
    for i in range(5):
        await queue.enqueue(submission(f"t{i}"))
    first = (await queue.take("w1", 2)).jobs
    done, taken = await queue.ack_take("w1", [(j.id, j.token, "ok") for j in first], 10)
    assert done == [Acked.COMPLETED] * 2
    assert len(taken.jobs) == 3
    assert [(await queue.get(j.id)).status for j in first] == [Status.COMPLETED] * 2
    stats = await queue.stats()
    assert (stats.completed, stats.waiting) == (2, 0)
    # Replayed: nothing completes twice, nothing more to take.
    again, empty = await queue.ack_take("w1", [(j.id, j.token, "ok") for j in first], 10)
    assert (again, empty.jobs) == ([Acked.ALREADY] * 2, [])


async def test_active_job_shows_its_worker_and_start(queue: Queue, clock: FakeClock) -> None:
    result = await queue.enqueue(submission())
    [taken] = (await queue.take("w9", 1)).jobs
    job = await queue.get(result.id)
    assert (job.status, job.record.worker, job.record.started_ms) == (
        Status.ACTIVE,
        "w9",
        int(clock.now * 1000),
    )
    clock.advance(2)
    await queue.ack("w9", [(taken.id, taken.token, "r")])
    done = await queue.get(result.id)
    # The attempt's worker and start moved into the record when it ended.
    assert (done.record.worker, done.record.started_ms) == ("w9", int((clock.now - 2) * 1000))
