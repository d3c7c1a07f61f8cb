"""Crash recovery: reaping silent workers, lost replies, late acks.

Liveness is judged by Redis's clock: a test ages a worker's last beat in Redis (`silence`), as a
worker that stopped beating would leave it, instead of sleeping.
"""

from __future__ import annotations

from redis.asyncio import Redis

from feedback_queue.job import Status
from feedback_queue.outcomes import Acked
from feedback_queue.queue import Failure, Queue
from tests.conftest import FakeClock
from tests.helpers import redis_ms, silence, sneak_into_line, submission


async def test_abandoned_jobs_come_back_exactly_once(queue: Queue, client: Redis) -> None:
    ids = [(await queue.enqueue(submission(f"t{i}"))).id for i in range(3)]
    await queue.heartbeat("doomed")
    await queue.heartbeat("reaper")  # a live fleet: the reaper beats all along
    taken = await queue.reserve("doomed", count=3)
    assert len(taken) == 3
    # Within the grace period nothing moves.
    await silence(client, queue, "doomed", queue.config.heartbeat_grace - 1)
    await queue.heartbeat("reaper")  # the reaper beats before it reaps
    assert await queue.reap() == 0
    await silence(client, queue, "doomed", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 3
    assert await queue.reap() == 0  # nothing twice
    assert (await queue.list_by_status(Status.ACTIVE)).total == 0
    # Back first in line, oldest first, each once.
    await queue.heartbeat("rescuer")
    again = await queue.reserve("rescuer", count=10)
    assert [j.id for j in again] == ids
    assert all(j.attempts == 2 for j in again)
    assert "doomed" in (await queue.get(ids[0])).record.error
    assert (await queue.stats()).recovered_total == 3


async def test_reaper_spares_a_worker_that_beats(queue: Queue, client: Redis) -> None:
    await queue.enqueue(submission())
    await queue.heartbeat("slow")
    await queue.reserve("slow")
    for _ in range(5):
        await silence(client, queue, "slow", queue.config.heartbeat_grace + 1)
        await queue.heartbeat("slow")
        assert await queue.reap() == 0
    assert (await queue.stats()).active == 1


async def test_job_that_kills_its_last_worker_is_dead_lettered(queue: Queue, client: Redis) -> None:
    result = await queue.enqueue(submission("poison"))
    for attempt in range(1, queue.max_attempts + 1):
        worker = f"victim-{attempt}"
        await queue.heartbeat(worker)
        await queue.heartbeat("reaper")
        [job] = await queue.reserve(worker)
        assert job.attempts == attempt
        await silence(client, queue, worker, queue.config.heartbeat_grace + 1)
        await queue.heartbeat("reaper")
        await queue.reap()
    dead = await queue.get(result.id)
    assert dead.status == Status.FAILED
    assert "last attempt" in dead.record.error
    stats = await queue.stats()
    assert (stats.waiting, stats.failed) == (0, 1)


async def test_late_ack_from_a_reaped_worker_is_refused_and_the_job_runs_again(
    queue: Queue, client: Redis
) -> None:
    # The reaper ended the zombie's lease: its token is stale, so its late ack changes nothing
    # (DESIGN.md §1.2) and the job runs again: at-least-once, and never two holders at once.
    await queue.enqueue(submission())
    await queue.heartbeat("zombie")
    await queue.heartbeat("reaper")
    [job] = await queue.reserve("zombie")
    await silence(client, queue, "zombie", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1
    assert await queue.ack("zombie", [(job.id, job.token, "late but done")]) == [Acked.STALE]
    assert (await queue.get(job.id)).status == Status.WAITING
    [again] = await queue.reserve("other", count=5)
    assert (again.id, again.attempts) == (job.id, 2)  # the reaped attempt counts


async def test_reaped_and_departed_workers_leave_no_keys(redis_queue: Queue, client: Redis) -> None:
    queue, k = redis_queue, redis_queue.keys
    for i in range(2):
        await queue.enqueue(submission(f"t{i}"))
    for worker in ("doomed", "leaving"):
        await queue.heartbeat(worker)
        await queue.reserve(worker)
    await silence(client, queue, "doomed", queue.config.heartbeat_grace + 1)
    assert await queue.reap() == 1
    assert await queue.leave("leaving") == 1
    for worker in ("doomed", "leaving"):
        assert await client.exists(k.active(worker)) == 0
        assert await client.zscore(k.workers, worker) is None
    assert await client.hlen(k.started) == 0


async def test_completed_job_found_in_waiting_is_not_run_again(
    redis_queue: Queue, client: Redis
) -> None:
    queue = redis_queue
    await queue.enqueue(submission())
    [job] = await queue.reserve("w1")
    await queue.ack("w1", [(job.id, job.token, "done")])
    await sneak_into_line(queue, client, job.id)  # as if a stale copy had come back
    assert await queue.reserve("w2", count=5) == []
    assert await client.llen(queue.keys.active("w2")) == 0


async def test_recover_hands_back_what_a_lost_reply_left(queue: Queue) -> None:
    for i in range(4):
        await queue.enqueue(submission(f"t{i}"))
    await queue.heartbeat("w1")
    known = await queue.reserve("w1", count=1)
    lost = await queue.reserve("w1", count=3)  # pretend this reply never arrived
    assert await queue.recover("w1", keep=[j.id for j in known]) == 3
    assert [j.id for j in (await queue.list_by_status(Status.ACTIVE)).jobs] == [known[0].id]
    back = await queue.reserve("w2", count=5)
    assert [j.id for j in back] == [j.id for j in lost]
    # The attempt that never reached the worker is not counted against the job.
    assert all(j.attempts == 1 for j in back)


async def test_release_at_shutdown_puts_jobs_first_in_line(queue: Queue) -> None:
    first = (await queue.enqueue(submission("first"))).id
    second = (await queue.enqueue(submission("second"))).id
    await queue.heartbeat("w1")
    await queue.reserve("w1", count=2)
    third = (await queue.enqueue(submission("third"))).id
    assert await queue.leave("w1") == 2
    assert (await queue.stats()).workers == 0
    again = await queue.reserve("w2", count=5)
    assert [j.id for j in again] == [first, second, third]
    assert [j.attempts for j in again] == [1, 1, 1]


async def test_fail_after_reap_is_stale(queue: Queue, client: Redis) -> None:
    await queue.enqueue(submission())
    await queue.heartbeat("w1")
    await queue.heartbeat("reaper")
    [job] = await queue.reserve("w1")
    await silence(client, queue, "w1", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")
    await queue.reap()
    assert await queue.fail("w1", [Failure(job, "too late")]) == [None]
    assert (await queue.get(job.id)).status == Status.WAITING


async def test_housekeeping_lease_is_held_by_one_worker_at_a_time(queue: Queue) -> None:
    assert await queue.hold_lease("housekeeping", "w1", 5.0)
    assert not await queue.hold_lease("housekeeping", "w2", 5.0)
    assert await queue.hold_lease("housekeeping", "w1", 5.0)  # renewed
    assert not await queue.hold_lease("housekeeping", "w2", 0)  # not w2's to give up
    assert not await queue.hold_lease("housekeeping", "w1", 0)  # given up
    assert await queue.hold_lease("housekeeping", "w2", 5.0)


async def test_housekeeping_lease_expires_in_redis(redis_queue: Queue, client: Redis) -> None:
    # A lease is coordination, not data: the one key besides finished jobs with a TTL.
    assert await redis_queue.hold_lease("housekeeping", "w1", 5.0)
    assert 0 < await client.pttl(redis_queue.keys.lock("housekeeping")) <= 5000


async def test_a_worker_whose_clock_is_far_behind_is_not_reaped(
    queue: Queue, client: Redis, clock: FakeClock
) -> None:
    # The beat is stamped by Redis, not by the worker: a worker host whose clock is a minute
    # behind (and a reaper whose clock is a minute ahead) still counts as alive.
    await queue.enqueue(submission())
    await queue.heartbeat("behind")
    await queue.reserve("behind")
    clock.advance(-60)
    await queue.heartbeat("behind")
    clock.advance(120)
    assert await queue.reap() == 0
    assert (await queue.stats()).workers == 1
    assert (await queue.stats()).active == 1


async def test_while_the_fleet_beats_a_silent_worker_is_reaped_at_once(
    queue: Queue, client: Redis
) -> None:
    await queue.enqueue(submission())
    await queue.heartbeat("reaper")
    await queue.heartbeat("gone")
    await queue.reserve("gone")
    await silence(client, queue, "gone", queue.config.heartbeat_grace + 1)
    await queue.heartbeat("reaper")  # it beat a moment ago too: no gap in the fleet's beats
    assert await queue.reap() == 1


async def test_after_a_gap_in_the_beats_nobody_is_reaped_for_one_grace(
    queue: Queue, client: Redis
) -> None:
    # Redis was down (or restarted from its AOF, or failed over) for twice the grace: every beat
    # is stale, though the workers are alive. The first beat after the gap calls a calm of one
    # grace in which nobody is reaped, while the live workers beat again.
    grace = queue.config.heartbeat_grace
    ids = {}
    for worker in ("alive", "gone"):
        ids[worker] = (await queue.enqueue(submission(worker))).id
        await queue.heartbeat(worker)
        await queue.reserve(worker)
    for worker in ("alive", "gone"):
        await silence(client, queue, worker, 2 * grace)
    await queue.heartbeat("reaper")  # the first beat after the outage: the reaper's own
    assert await queue.reap() == 0
    await queue.heartbeat("alive")  # back within the calm
    assert await queue.reap() == 0
    assert (await queue.stats()).active == 2
    # The calm ends one grace later; the worker that never came back is reaped then, alone.
    await client.hset(queue.keys.reaper, "calm", await redis_ms(client) - 1)
    assert await queue.reap() == 1
    assert (await queue.get(ids["alive"])).status == Status.ACTIVE
    assert (await queue.get(ids["gone"])).status == Status.WAITING


async def test_a_gap_shorter_than_half_the_grace_calls_no_calm(queue: Queue, client: Redis) -> None:
    grace = queue.config.heartbeat_grace
    await queue.enqueue(submission())
    await queue.heartbeat("gone")
    await queue.reserve("gone")
    await silence(client, queue, "gone", grace / 2 - 1)
    await queue.heartbeat("reaper")  # the fleet's latest beat was recent enough: no gap
    assert await client.hget(queue.keys.reaper, "calm") is None
    await silence(client, queue, "gone", grace + 1)
    await queue.heartbeat("reaper")
    assert await queue.reap() == 1


async def test_a_reap_held_up_by_an_outage_calls_the_calm_itself(
    queue: Queue, client: Redis
) -> None:
    # The reaper's turn was stuck in another call during the outage and reaps before anyone
    # beats again: the fleet's latest beat is stale, so it calls the calm itself.
    await queue.enqueue(submission())
    await queue.heartbeat("alive")
    await queue.reserve("alive")
    await silence(client, queue, "alive", 2 * queue.config.heartbeat_grace)
    assert await queue.reap() == 0
    assert await client.hget(queue.keys.reaper, "calm") is not None
    assert (await queue.stats()).active == 1
