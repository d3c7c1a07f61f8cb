"""Fenced attempts (DESIGN.md §1.2): only the holder of an attempt's token can ack, fail or
release it; an outcome with a stale token changes nothing, leaves no id behind in the stale
worker's processing list, and is counted in the stats hash (`stale_outcomes`)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from redis.asyncio import Redis
from tenacity import stop_after_attempt

from feedback_queue.job import Job, Status
from feedback_queue.outcomes import Acked
from feedback_queue.queue import Failure, Queue
from tests.conftest import FakeClock
from tests.helpers import silence, sneak_into_line, submission
from worker_service.batching import OutcomeBatch
from worker_service.retrying import RedisGuard


async def stale_count(queue: Queue, client: Redis) -> int:
    return int(await client.hget(queue.keys.stats, "stale_outcomes") or 0)


async def reaped(queue: Queue, client: Redis, worker: str) -> None:
    """`worker` falls silent while the rest of the fleet (the reaper) beats on, and is reaped."""
    await queue.heartbeat("reaper")
    await silence(client, queue, worker, queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    await queue.reap()


async def reaped_then_back(queue: Queue, client: Redis) -> Job:
    """One job taken by w1, which is reaped and then beats again (it was only frozen): the
    attempt w1 still thinks it holds."""
    await queue.enqueue(submission())
    await queue.heartbeat("w1")
    [old] = await queue.reserve("w1")
    await reaped(queue, client, "w1")
    await queue.heartbeat("w1")
    return old


async def copy_taken_by_w2(queue: Queue, client: Redis) -> tuple[Job, Job]:
    """One job taken by w1, whose id also found its way back to waiting and was taken by w2:
    (w1's attempt, w2's), w1's id still in its list."""
    await queue.enqueue(submission())
    await queue.heartbeat("w1")
    await queue.heartbeat("w2")
    [old] = await queue.reserve("w1")
    await sneak_into_line(queue, client, old.id)
    [new] = await queue.reserve("w2")
    return old, new


async def taken_by_two(queue: Queue, client: Redis) -> tuple[Job, Job]:
    """One job taken by w1, reaped, then taken by w2: (w1's stale attempt, w2's)."""
    old = await reaped_then_back(queue, client)
    await queue.heartbeat("w2")
    [new] = await queue.reserve("w2")
    assert (new.id, new.attempts) == (old.id, 2)
    assert new.token != old.token
    return old, new


async def test_each_attempt_gets_its_own_token(queue: Queue) -> None:
    for i in range(3):
        await queue.enqueue(submission(f"t{i}"))
    taken = await queue.reserve("w1", count=2)
    idle = (await queue.wait_for_work("w1", 1, 0.1)).jobs
    tokens = [j.token for j in [*taken, *idle]]
    assert len(set(tokens)) == 3
    assert all(tokens)
    assert all(j.token == "" for j in (await queue.list_by_status(Status.ACTIVE)).jobs)


async def test_a_beat_after_the_reap_renews_none_of_the_reaped_attempts(
    queue: Queue, client: Redis
) -> None:
    # The worker's beat is the lease of all its attempts; a reap ends them, and a beat after it
    # (the worker was only frozen) renews the worker, not one of them: their tokens stay stale.
    old = await reaped_then_back(queue, client)
    assert await queue.ack("w1", [(old.id, old.token, "late")]) == [Acked.STALE]
    assert await queue.fail("w1", [Failure(old, "late")]) == [None]
    assert await queue.release("w1", [old]) == 0
    job = await queue.get(old.id)
    assert (job.status, job.attempts) == (Status.WAITING, 1)
    assert await stale_count(queue, client) == 3  # the ack, the failure and the release
    [again] = await queue.reserve("w1")  # its next attempt is a new one, with a new token
    assert (again.id, again.attempts) == (old.id, 2)
    assert again.token != old.token


async def test_a_late_ack_of_a_job_completed_by_its_next_attempt_is_stale(
    queue: Queue, client: Redis
) -> None:
    old, new = await taken_by_two(queue, client)
    assert await queue.ack("w2", [(new.id, new.token, "ok")]) == [Acked.COMPLETED]
    # w1's attempt was reaped: its ack is stale, not a replay, though the job is COMPLETED.
    assert await queue.ack("w1", [(old.id, old.token, "late")]) == [Acked.STALE]
    assert await stale_count(queue, client) == 1
    # The ack that completed it, sent again, is a replay.
    assert await queue.ack("w2", [(new.id, new.token, "ok")]) == [Acked.ALREADY]
    assert await stale_count(queue, client) == 1
    assert (await queue.get(new.id)).record.result == "ok"


async def test_stale_fail_after_reap_and_retake_is_refused(queue: Queue, client: Redis) -> None:
    old, new = await taken_by_two(queue, client)
    assert await queue.fail("w1", [Failure(old, "too late")]) == [None]
    job = await queue.get(old.id)
    assert (job.status, job.record.worker) == (Status.ACTIVE, "w2")
    assert await stale_count(queue, client) == 1
    assert await queue.ack("w2", [(new.id, new.token, "ok")]) == [Acked.COMPLETED]


async def test_stale_fail_after_admin_retry_is_refused(
    client: Redis, queue: Queue, clock: FakeClock
) -> None:
    # Issue #9: reap (last attempt: FAILED), admin retry (attempts start over), a new take in
    # attempt 1 again; the old worker's failure names that same attempt number.
    config = dataclasses.replace(queue.config, max_attempts=1)
    queue = Queue(client, config, address="test-redis", clock=clock)
    await queue.enqueue(submission())
    await queue.heartbeat("w1")
    [old] = await queue.reserve("w1")
    await reaped(queue, client, "w1")
    assert (await queue.get(old.id)).status == Status.FAILED
    await queue.retry(old.id)
    await queue.heartbeat("w1")
    [new] = await queue.reserve("w2")
    assert new.attempts == old.attempts == 1
    assert await queue.fail("w1", [Failure(old, "stale", permanent=True)]) == [None]
    job = await queue.get(old.id)
    assert (job.status, job.record.worker) == (Status.ACTIVE, "w2")
    assert await queue.ack("w1", [(old.id, old.token, "stale")]) == [Acked.STALE]
    assert (await queue.get(old.id)).status == Status.ACTIVE
    assert await stale_count(queue, client) == 2
    assert await queue.ack("w2", [(new.id, new.token, "ok")]) == [Acked.COMPLETED]


async def test_late_ack_cannot_strand_the_new_holders_failure(queue: Queue, client: Redis) -> None:
    # Issue #10: a late ack used to complete the job under its new holder, whose failure was
    # then stale and left a COMPLETED id in its live list (`active` stayed 1).
    old, new = await taken_by_two(queue, client)
    assert await queue.ack("w1", [(old.id, old.token, "late")]) == [Acked.STALE]
    assert await queue.fail("w2", [Failure(new, "boom")]) == [Status.DELAYED]
    assert await client.llen(queue.keys.active("w2")) == 0
    stats = await queue.stats()
    assert (stats.active, stats.delayed, stats.completed) == (0, 1, 0)


async def test_stale_ack_is_refused_counted_and_leaves_no_id_behind(
    queue: Queue, client: Redis
) -> None:
    # The job's id is still in w1's list, but w2 holds the attempt now (a copy of the id found
    # its way back to waiting): w1's ack must not complete what w2 runs.
    old, new = await copy_taken_by_w2(queue, client)
    assert await queue.ack("w1", [(old.id, old.token, "mine?")]) == [Acked.STALE]
    assert await client.llen(queue.keys.active("w1")) == 0
    job = await queue.get(old.id)
    assert (job.status, job.record.worker) == (Status.ACTIVE, "w2")
    assert (await queue.stats()).active == 1
    assert await stale_count(queue, client) == 1
    assert await queue.ack("w2", [(new.id, new.token, "ok")]) == [Acked.COMPLETED]
    assert (await queue.stats()).active == 0


async def test_stale_outcome_keeps_the_same_workers_newer_attempt(
    queue: Queue, client: Redis
) -> None:
    # w1 was reaped, came back and took the job again: its list holds the new attempt's id,
    # which the old attempt's refused failure must not take away.
    old = await reaped_then_back(queue, client)
    [new] = await queue.reserve("w1")
    assert await queue.fail("w1", [Failure(old, "old")]) == [None]
    assert await queue.ack("w1", [(old.id, old.token, "old")]) == [Acked.STALE]
    assert await client.lrange(queue.keys.active("w1"), 0, -1) == [new.id.encode()]
    assert await queue.ack("w1", [(new.id, new.token, "new")]) == [Acked.COMPLETED]
    assert (await queue.get(new.id)).record.result == "new"


async def test_stale_release_is_refused(queue: Queue, client: Redis) -> None:
    old, new = await copy_taken_by_w2(queue, client)
    assert await queue.release("w1", [old]) == 0
    assert await client.llen(queue.keys.active("w1")) == 0
    job = await queue.get(old.id)
    assert (job.status, job.record.worker, job.attempts) == (Status.ACTIVE, "w2", 2)
    assert await queue.waiting_ids() == []
    assert await stale_count(queue, client) == 1
    # A shutdown's hand-back of everything it holds leaves another worker's attempt alone too.
    await client.lpush(queue.keys.active("w1"), old.id)
    assert await queue.leave("w1") == 0
    assert (await queue.get(old.id)).record.worker == "w2"
    assert await queue.release("w2", [new]) == 1


async def test_current_token_outcomes_work_and_replays_are_harmless(
    queue: Queue, client: Redis
) -> None:
    for i in range(3):
        await queue.enqueue(submission(f"t{i}"))
    await queue.heartbeat("w1")
    done, failed, released = await queue.reserve("w1", count=3)
    assert await queue.ack("w1", [(done.id, done.token, "r")]) == [Acked.COMPLETED]
    assert await queue.ack("w1", [(done.id, done.token, "again")]) == [Acked.ALREADY]
    assert (await queue.get(done.id)).record.result == "r"
    assert await queue.fail("w1", [Failure(failed, "boom")]) == [Status.DELAYED]
    assert await queue.fail("w1", [Failure(failed, "boom")]) == [None]  # the attempt ended
    assert (await queue.get(failed.id)).status == Status.DELAYED
    assert await queue.release("w1", [released]) == 1
    assert await queue.release("w1", [released]) == 0
    back = await queue.get(released.id)
    assert (back.status, back.attempts) == (Status.WAITING, 0)
    assert await client.llen(queue.keys.active("w1")) == 0
    stats = await queue.stats()
    assert (stats.active, stats.completed, stats.delayed, stats.waiting) == (0, 1, 1, 1)
    # The fail and release replays found their attempts ended: counted, nothing changed.
    assert await stale_count(queue, client) == 2


async def test_ack_take_is_fenced_too(queue: Queue, client: Redis) -> None:
    old, new = await taken_by_two(queue, client)
    acked, taken = await queue.ack_take("w1", [(old.id, old.token, "late")], 5)
    assert (acked, taken.jobs) == ([Acked.STALE], [])
    acked, _ = await queue.ack_take("w2", [(new.id, new.token, "ok")], 5)
    assert acked == [Acked.COMPLETED]
    assert (await queue.get(new.id)).record.result == "ok"


async def test_worker_warns_when_its_outcomes_are_refused(
    queue: Queue, client: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    old, _ = await taken_by_two(queue, client)
    batch = OutcomeBatch(queue, "w1", RedisGuard(asyncio.sleep))
    batch.ack(old.id, old.token, "late")
    batch.fail(Failure(old, "late"))
    with caplog.at_level(logging.WARNING, logger="worker_service.batching"):
        assert await batch.flush(stop_after_attempt(1)) == 2
    assert f"ack of job {old.id} refused" in caplog.text
    assert f"failure of job {old.id} attempt 1 refused" in caplog.text
    assert not batch.pending
    assert await stale_count(queue, client) == 2
