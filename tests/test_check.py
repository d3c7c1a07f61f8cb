"""`fbq check`'s core against a real Redis: each invariant broken on purpose is found, a healthy
queue has none, and --repair fixes what is safe and leaves the rest reported."""

from __future__ import annotations

from redis.asyncio import Redis

from feedback_queue.check import Kind
from feedback_queue.job import Status
from feedback_queue.queue import Failure, Queue
from feedback_queue.queue.check import check, read_snapshot, repair
from tests.helpers import pull_from_line, sneak_into_line, submission


async def found(queue: Queue) -> list[tuple[Kind, str]]:
    return [v.key for v in (await check(queue)).violations]


async def busy(queue: Queue) -> dict[str, str]:
    """A queue after a normal flow: waiting, active, delayed, completed, failed, retried."""
    ids = [(await queue.enqueue(submission(f"s{i}"))).id for i in range(6)]
    later = (await queue.enqueue(submission("later"), delay=60)).id
    await queue.heartbeat("w1")
    jobs = await queue.reserve("w1", count=4)
    await queue.ack("w1", [(jobs[0].id, jobs[0].token, "ok")])
    await queue.fail("w1", [Failure(jobs[1], "boom")])  # DELAYED with backoff
    await queue.fail("w1", [Failure(jobs[2], "bad", permanent=True)])  # FAILED
    dead = jobs[2].id
    await queue.enqueue(submission("again"))
    [retried] = await queue.reserve("w1", count=1)
    await queue.fail("w1", [Failure(retried, "bad", permanent=True)])
    await queue.retry(retried.id)
    return {
        "waiting": ids[5],
        "active": jobs[3].id,
        "delayed": jobs[1].id,
        "later": later,
        "completed": jobs[0].id,
        "failed": dead,
    }


async def test_a_healthy_queue_after_a_normal_flow_has_no_violation(queue: Queue) -> None:
    assert (await check(queue)).violations == []
    await busy(queue)
    report = await check(queue)
    assert report.violations == []
    assert report.jobs == 8


async def test_each_broken_invariant_is_found(queue: Queue, client: Redis) -> None:
    at = await busy(queue)
    k = queue.keys
    await sneak_into_line(queue, client, at["waiting"])  # WAITING twice in waiting
    await sneak_into_line(queue, client, at["delayed"])  # DELAYED also in waiting
    await client.hdel(k.started, at["active"])  # ACTIVE without its started entry
    await client.zadd(k.failed, {at["completed"]: 1})  # COMPLETED in failed
    await client.zadd(k.delayed, {at["failed"]: 1})  # FAILED also in delayed
    await sneak_into_line(queue, client, "ghost")  # no record
    await client.hset(k.started, at["later"], "w9|1")  # started entry of a DELAYED job
    await client.lpush(k.active("gone"), at["later"])  # a processing list nobody owns
    got = set(await found(queue))
    assert got == {
        (Kind.MISPLACED, at["waiting"]),
        (Kind.MISPLACED, at["delayed"]),
        (Kind.WRONG_RUNNER, at["active"]),
        (Kind.MISPLACED, at["completed"]),
        (Kind.MISPLACED, at["failed"]),
        (Kind.NO_RECORD, "ghost"),
        (Kind.STALE_STARTED, at["later"]),
        (Kind.MISPLACED, at["later"]),
        (Kind.ORPHAN_LIST, "gone"),
    }


async def test_a_lost_waiting_job_is_found_and_pushed_back(queue: Queue, client: Redis) -> None:
    job_id = (await queue.enqueue(submission())).id
    await pull_from_line(queue, client, job_id)
    assert await found(queue) == [(Kind.LOST_WAITING, job_id)]
    assert await repair(queue, (await check(queue)).violations) == 1
    assert await found(queue) == []
    await queue.heartbeat("w")
    assert [j.id for j in await queue.reserve("w", count=5)] == [job_id]


async def test_repair_runs_an_orphan_list_again_and_reports_the_rest(
    queue: Queue, client: Redis
) -> None:
    ids = [(await queue.enqueue(submission(f"o{i}"))).id for i in range(2)]
    await queue.heartbeat("lost")
    await queue.reserve("lost", count=2)
    await client.zrem(queue.keys.workers, "lost")  # its registration went; its list stayed
    delayed = (await queue.enqueue(submission("d"), delay=60)).id
    await client.hset(queue.keys.started, delayed, "w9|1")
    await sneak_into_line(queue, client, "ghost")
    before = await check(queue)
    assert {v.key for v in before.violations} == {
        (Kind.ORPHAN_LIST, "lost"),
        (Kind.STALE_STARTED, delayed),
        (Kind.NO_RECORD, "ghost"),
    }
    assert await repair(queue, [v for v in before.violations if v.repairable]) == 3
    assert await found(queue) == [(Kind.NO_RECORD, "ghost")]
    await pull_from_line(queue, client, "ghost")
    await queue.heartbeat("w")
    again = await queue.reserve("w", count=5)
    assert sorted(j.id for j in again) == sorted(ids)
    assert all(j.attempts == 2 for j in again)


async def test_repairs_recheck_the_state_they_fix(queue: Queue, client: Redis) -> None:
    job_id = (await queue.enqueue(submission())).id
    await pull_from_line(queue, client, job_id)
    [lost] = (await check(queue)).violations
    await sneak_into_line(queue, client, job_id)  # someone else put it back meanwhile
    assert await repair(queue, [lost]) == 0
    assert await queue.waiting_ids() == [job_id]
    await queue.heartbeat("w")
    [job] = await queue.reserve("w")
    await client.hset(queue.keys.started, "x", "w|1")
    [stale] = (await check(queue)).violations
    assert stale.kind == Kind.STALE_STARTED
    await client.hset(queue.keys.started, "x", "w|1")
    assert await repair(queue, [stale.__class__(Kind.STALE_STARTED, job.id, "")]) == 0
    assert (await queue.get(job.id)).status == Status.ACTIVE
    assert await repair(queue, [stale]) == 1


async def test_the_snapshot_finds_processing_lists_by_scan_and_by_registration(
    queue: Queue, client: Redis
) -> None:
    await client.lpush(queue.keys.active("unregistered"), "x")
    await queue.heartbeat("registered")
    snap = await read_snapshot(queue)
    assert snap.active == {"unregistered": ["x"]}
    assert snap.workers == {"registered"}


async def test_the_lanes_bookkeeping_is_checked_and_recounted(queue: Queue, client: Redis) -> None:
    k = queue.keys
    alice = [(await queue.enqueue(submission(f"a{i}", submitter_id="alice"))).id for i in range(3)]
    bob = (await queue.enqueue(submission("b", submitter_id="bob"))).id
    [running] = await queue.reserve("w1")
    assert running.id == alice[0]  # both keys entered at the same turn; ties go by key
    assert (await check(queue)).violations == []
    # Alice's lane falls out of the ready set: her work would wait for ever.
    await client.zrem(k.ready(2), "alice")
    # Counters drift: one more waiting than there is, bob's ACTIVE count made up.
    await client.hincrby(k.fair, "waiting", 1)
    await client.hset(k.key_busy, "bob", 5)
    got = {v.key: v.message for v in (await check(queue)).violations}
    assert set(got) == {(Kind.UNLISTED_LANE, "2:alice"), (Kind.COUNTS, "counts")}
    assert (
        "neither ready nor held: no worker will take them" in got[(Kind.UNLISTED_LANE, "2:alice")]
    )
    assert "waiting is 4, the lanes hold 3" in got[(Kind.COUNTS, "counts")]
    assert await repair(queue, (await check(queue)).violations) == 3
    assert (await check(queue)).violations == []
    taken = await queue.reserve("w2", count=10)
    assert sorted(j.id for j in taken) == sorted([*alice[1:], bob])
    share = await queue.fair_share()
    assert (share.keys, share.other.waiting, share.other.active) == ([], 0, 4)
