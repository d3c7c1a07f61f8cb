"""Cancellation against a real Redis: every state, the fence that makes a revoked attempt's
outcomes no-ops, replays, idempotency keys, filters with dry runs, and the books (`fbq check`).

The adversary: a worker that finishes, fails or hands back after its job was cancelled (a
frozen worker waking, or one that never heard), a cancel sent twice (a lost reply), a cancel
racing a reap, and an admin filtering while workers take from the same lanes.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from feedback_queue.errors import InvalidSubmission, NotCancellable, NotFound
from feedback_queue.fairness import Quota
from feedback_queue.job import Status
from feedback_queue.outcomes import Acked, Held
from feedback_queue.queue import CancelFilter, Failure, Queue
from feedback_queue.queue.check import check
from tests.conftest import FakeClock
from tests.helpers import silence, sneak_into_line, submission


async def enqueue(
    queue: Queue, n: int, submitter: str = "learner-1", **fields: object
) -> list[str]:
    items = [
        (submission(f"{submitter}-{i}", submitter_id=submitter, **fields), 0.0) for i in range(n)
    ]
    return [r.id for r in await queue.enqueue_many(items)]  # type: ignore[union-attr]


async def assert_clean(queue: Queue) -> None:
    report = await check(queue)
    assert report.violations == [], report.violations


async def test_a_waiting_job_is_cancelled_and_never_taken(queue: Queue) -> None:
    first, second = await enqueue(queue, 2)
    assert await queue.cancel(first, "alice") is True
    job = await queue.get(first)
    assert job.status == Status.CANCELLED
    assert job.record.error == "cancelled by alice"
    assert job.record.finished_ms > 0
    taken = (await queue.take("w1", 10)).jobs
    assert [j.id for j in taken] == [second]
    stats = await queue.stats()
    assert (stats.waiting, stats.cancelled_total) == (0, 1)
    page = await queue.list_by_status(Status.CANCELLED)
    assert [j.id for j in page.jobs] == [first]
    await assert_clean(queue)


async def test_a_delayed_job_is_cancelled_and_never_promoted(
    queue: Queue, clock: FakeClock
) -> None:
    result = await queue.enqueue(submission("later"), delay=60.0)
    assert await queue.cancel(result.id, "alice")
    clock.advance(120)
    assert await queue.promote_due() == 0
    assert (await queue.get(result.id)).status == Status.CANCELLED
    assert (await queue.stats()).delayed == 0
    await assert_clean(queue)


async def test_an_active_job_is_revoked_and_its_late_outcomes_change_nothing(queue: Queue) -> None:
    await enqueue(queue, 3)
    await queue.heartbeat("w1")
    a, b, c = await queue.reserve("w1", count=3)
    for job in (a, b, c):
        assert await queue.cancel(job.id, "alice")
    assert await queue.held([(a.id, a.token)]) == [Held.CANCELLED]
    # The worker never heard: it acks one, fails one and hands back the third.
    assert await queue.ack("w1", [(a.id, a.token, "done")]) == [Acked.CANCELLED]
    assert await queue.fail("w1", [Failure(b, "boom")]) == [Status.CANCELLED]
    assert await queue.release("w1", [c]) == 0
    for job in (a, b, c):
        got = await queue.get(job.id)
        assert got.status == Status.CANCELLED
        assert got.record.result == ""
        assert got.record.worker == "w1"  # who ran the revoked attempt stays on record
    stats = await queue.stats()
    assert (stats.active, stats.waiting, stats.completed, stats.cancelled_total) == (0, 0, 0, 3)
    assert await queue.client.hget(queue.keys.stats, "stale_outcomes") is None
    await assert_clean(queue)


async def test_a_cancelled_job_is_not_reaped_back(queue: Queue, client: Redis) -> None:
    [job_id] = await enqueue(queue, 1)
    await queue.heartbeat("reaper")
    await queue.heartbeat("w1")
    await queue.reserve("w1")
    assert await queue.cancel(job_id, "alice")
    await silence(client, queue, "w1", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 0
    assert (await queue.get(job_id)).status == Status.CANCELLED
    assert (await queue.take("w2", 10)).jobs == []
    await assert_clean(queue)


async def test_a_reaped_then_cancelled_job_stops_its_old_worker(
    queue: Queue, client: Redis
) -> None:
    [job_id] = await enqueue(queue, 1)
    await queue.heartbeat("reaper")
    await queue.heartbeat("w1")
    [old] = await queue.reserve("w1")
    await silence(client, queue, "w1", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1
    assert await queue.held([(old.id, old.token)]) == [Held.LOST]
    [new] = await queue.reserve("w2")
    assert await queue.held([(new.id, new.token), (old.id, old.token)]) == [
        Held.HELD,
        Held.LOST,
    ]
    assert await queue.cancel(job_id, "alice")
    # Both attempts, the reaped one's worker woken from a freeze and the new one, are told.
    assert await queue.held([(new.id, new.token), (old.id, old.token)]) == [
        Held.CANCELLED,
        Held.CANCELLED,
    ]
    assert await queue.ack("w1", [(old.id, old.token, "late")]) == [Acked.CANCELLED]
    assert await queue.ack("w2", [(new.id, new.token, "late")]) == [Acked.CANCELLED]
    assert (await queue.get(job_id)).status == Status.CANCELLED
    await assert_clean(queue)


async def test_a_cancel_sent_again_is_already_and_a_finished_job_is_not_cancellable(
    queue: Queue,
) -> None:
    done, failed, waiting = await enqueue(queue, 3)
    await queue.heartbeat("w1")
    a, b = await queue.reserve("w1", count=2)
    await queue.ack("w1", [(a.id, a.token, "ok")])
    await queue.fail("w1", [Failure(b, "bad", permanent=True)])
    assert await queue.cancel(waiting, "alice") is True
    assert await queue.cancel(waiting, "bob") is False  # the lost reply's retry
    assert (await queue.get(waiting)).record.error == "cancelled by alice"
    with pytest.raises(NotCancellable, match="COMPLETED"):
        await queue.cancel(done, "alice")
    with pytest.raises(NotCancellable, match="FAILED"):
        await queue.cancel(failed, "alice")
    with pytest.raises(NotFound):
        await queue.cancel("nosuchid0000", "alice")
    assert (await queue.get(done)).status == Status.COMPLETED
    assert (await queue.stats()).cancelled_total == 1


async def test_a_failed_attempt_then_cancel_keeps_its_error(queue: Queue) -> None:
    [job_id] = await enqueue(queue, 1)
    await queue.heartbeat("w1")
    [job] = await queue.reserve("w1")
    await queue.fail("w1", [Failure(job, "model busy")])
    assert (await queue.get(job_id)).status == Status.DELAYED
    await queue.cancel(job_id, "alice")
    got = await queue.get(job_id)
    assert got.record.error == "cancelled by alice; the last failed attempt said: model busy"
    assert got.record.run_at_ms == 0


async def test_retry_refuses_and_delete_removes_a_cancelled_job(queue: Queue) -> None:
    [job_id] = await enqueue(queue, 1)
    await queue.cancel(job_id, "alice")
    with pytest.raises(Exception, match="not FAILED"):
        await queue.retry(job_id)
    await queue.delete(job_id)
    assert (await queue.list_by_status(Status.CANCELLED)).total == 0
    with pytest.raises(NotFound):
        await queue.get(job_id)
    await assert_clean(queue)


async def test_an_idempotency_key_keeps_answering_cancelled_after_the_record_is_gone(
    queue: Queue, client: Redis
) -> None:
    first = await queue.enqueue(submission("essay", idempotency_key="k1"))
    await queue.cancel(first.id, "alice")
    again = await queue.enqueue(submission("essay", idempotency_key="k1"))
    assert (again.id, again.status, again.duplicate) == (first.id, Status.CANCELLED, True)
    await client.delete(queue.keys.job(first.id))  # retention over, or evicted
    again = await queue.enqueue(submission("essay", idempotency_key="k1"))
    assert (again.id, again.status, again.duplicate) == (first.id, Status.CANCELLED, True)
    assert (await queue.stats()).waiting == 0


async def test_the_sweep_keeps_cancelled_ids_as_long_as_idempotency_keys(
    queue: Queue, clock: FakeClock
) -> None:
    [job_id] = await enqueue(queue, 1)
    await queue.cancel(job_id, "alice")
    kept = max(queue.config.retention, queue.config.idempotency_ttl)
    clock.advance(kept - 1)
    await queue.sweep()
    assert await queue.client.zscore(queue.keys.cancelled, job_id) is not None
    clock.advance(2)
    await queue.sweep()
    assert await queue.client.zscore(queue.keys.cancelled, job_id) is None


async def test_a_cancelled_capped_job_frees_its_key_at_once(queue: Queue) -> None:
    await queue.set_quota("learner-1", max_active=1)
    first, second = await enqueue(queue, 2)
    await queue.heartbeat("w1")
    [job] = await queue.reserve("w1", count=2)
    assert job.id == first
    assert (await queue.take("w1", 1)).jobs == []  # at its max_active
    await queue.cancel(first, "alice")
    [next_job] = (await queue.take("w1", 1)).jobs
    assert next_job.id == second
    await assert_clean(queue)


async def test_a_filter_cancel_counts_first_then_cancels_what_it_counted(queue: Queue) -> None:
    bob = await enqueue(queue, 30, submitter="bob")
    await enqueue(queue, 5, submitter="carol")
    bob_high = await enqueue(queue, 4, submitter="bob", priority=3)
    late = await queue.enqueue(submission("later", submitter_id="bob"), delay=30.0)
    # Bob's work under another key is his too.
    keyed = await enqueue(queue, 2, submitter="bob", fairness_key="course-7")
    where = CancelFilter(submitter_id="bob")
    assert await queue.cancel_where(where, "admin", dry_run=True) == 30 + 4 + 1 + 2
    assert (await queue.stats()).cancelled_total == 0
    assert await queue.cancel_where(where, "admin") == 37
    for job_id in [*bob, *bob_high, late.id, *keyed]:
        assert (await queue.get(job_id)).status == Status.CANCELLED
    left = (await queue.take("w1", 100)).jobs
    assert {j.submission.submitter_id for j in left} == {"carol"}
    assert await queue.cancel_where(where, "admin") == 0
    await assert_clean(queue)


async def test_a_filter_cancel_by_key_and_state(queue: Queue) -> None:
    waiting = await enqueue(queue, 450, submitter="big")  # more than one window
    delayed = await queue.enqueue(submission("x", submitter_id="big"), delay=30.0)
    await enqueue(queue, 3, submitter="small")
    only_waiting = CancelFilter(fairness_key="big", statuses=frozenset({Status.WAITING}))
    assert await queue.cancel_where(only_waiting, "admin", dry_run=True) == 450
    assert await queue.cancel_where(only_waiting, "admin") == 450
    assert (await queue.get(delayed.id)).status == Status.DELAYED
    assert (await queue.get(waiting[-1])).status == Status.CANCELLED
    both = CancelFilter(fairness_key="big", submitter_id="someone-else")
    assert await queue.cancel_where(both, "admin") == 0
    fair = await queue.fair_share()
    assert [k.key for k in fair.keys] == ["small"]
    await assert_clean(queue)


def test_a_filter_must_name_something_and_only_waiting_or_delayed() -> None:
    with pytest.raises(InvalidSubmission, match="submitter_id or a fairness_key"):
        CancelFilter()
    with pytest.raises(InvalidSubmission, match="WAITING and DELAYED"):
        CancelFilter(submitter_id="bob", statuses=frozenset({Status.ACTIVE}))


async def test_a_filter_cancel_racing_takers_never_runs_and_cancels_one_job(queue: Queue) -> None:
    """Workers take from the very lanes a filter cancel walks: each job ends up either taken
    (and the cancel did not touch it) or cancelled (and no take returned it), never both."""
    ids = set(await enqueue(queue, 600, submitter="bob"))
    await queue.set_quota("bob", Quota().weight)  # an own quota: the lane's held/ready moves
    taken: list[str] = []

    async def taker(worker: str) -> None:
        while True:
            got = (await queue.take(worker, 7)).jobs
            if not got:
                return
            taken.extend(j.id for j in got)
            await asyncio.sleep(0)

    cancelled, *_ = await asyncio.gather(
        queue.cancel_where(CancelFilter(submitter_id="bob"), "admin"), taker("w1"), taker("w2")
    )
    assert len(taken) == len(set(taken))
    statuses = {j.id: j.status for j in [await queue.get(i) for i in ids]}
    assert {i for i, s in statuses.items() if s == Status.CANCELLED}.isdisjoint(taken)
    assert sum(1 for s in statuses.values() if s == Status.CANCELLED) == cancelled
    assert cancelled + len(taken) == len(ids)
    await assert_clean(queue)


async def test_a_cancelled_id_found_back_in_a_lane_is_never_taken(
    queue: Queue, client: Redis
) -> None:
    """Defence in depth: should a cancelled id get into a lane again (a bug, a hand-made
    repair), the take drops it instead of running it."""
    first, second = await enqueue(queue, 2)
    await queue.cancel(first, "alice")
    await sneak_into_line(queue, client, first)
    taken = (await queue.take("w1", 10)).jobs
    assert [j.id for j in taken] == [second]
    assert (await queue.get(first)).status == Status.CANCELLED
    await assert_clean(queue)
