"""Listing, stats and the key-safety promises under the seed's volatile-lru policy."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.crc import key_slot

from feedback_queue.job import Status
from feedback_queue.keys import Keys
from feedback_queue.queue import Failure, Queue
from tests.conftest import FakeClock
from tests.helpers import submission


async def _states(queue: Queue) -> dict[str, list[str]]:
    """Make jobs in every state; returns ids per state, in listing order."""
    ids = [(await queue.enqueue(submission(f"t{i}"))).id for i in range(9)]
    await queue.heartbeat("w1")
    taken = await queue.reserve("w1", count=6)  # ids[0..5]
    await queue.ack("w1", [(taken[0].id, taken[0].token, "r0")])
    assert isinstance(queue.clock, FakeClock)  # the queue fixture's
    queue.clock.advance(1)
    await queue.ack("w1", [(taken[1].id, taken[1].token, "r1")])
    await queue.fail("w1", [Failure(taken[2], "transient")])
    await queue.fail("w1", [Failure(taken[3], "fatal", permanent=True)])
    return {
        "completed": [ids[1], ids[0]],  # newest first
        "delayed": [ids[2]],
        "failed": [ids[3]],
        "active": [ids[5], ids[4]],
        "waiting": ids[6:],  # oldest first
    }


async def test_list_every_state(queue: Queue) -> None:
    expected = await _states(queue)
    for name, status in [
        ("waiting", Status.WAITING),
        ("active", Status.ACTIVE),
        ("delayed", Status.DELAYED),
        ("completed", Status.COMPLETED),
        ("failed", Status.FAILED),
    ]:
        page = await queue.list_by_status(status)
        assert [j.id for j in page.jobs] == expected[name], name
        assert all(j.status == status for j in page.jobs)
        assert page.total == len(expected[name])
        assert page.next_cursor == ""


async def test_list_pages_through_everything_once(queue: Queue) -> None:
    ids = [(await queue.enqueue(submission(f"t{i}"))).id for i in range(23)]
    seen: list[str] = []
    cursor = ""
    while True:
        page = await queue.list_by_status(Status.WAITING, limit=5, cursor=cursor)
        assert page.total == 23
        seen += [j.id for j in page.jobs]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == ids


async def test_stats_count_every_state(queue: Queue) -> None:
    await _states(queue)
    stats = await queue.stats()
    assert (stats.waiting, stats.active, stats.delayed, stats.completed, stats.failed) == (
        3,
        2,
        1,
        2,
        1,
    )
    assert (stats.workers, stats.enqueued_total, stats.retried_total, stats.failed_total) == (
        1,
        9,
        1,
        1,
    )
    assert not stats.paused


async def test_no_correctness_key_carries_a_ttl(redis_queue: Queue, client: Redis) -> None:
    """volatile-lru may evict only keys with a TTL: only finished jobs may have one."""
    queue = redis_queue
    await _states(queue)
    await queue.enqueue(submission("keyed", idempotency_key="k"), delay=0)
    await queue.pause()
    completed = {j.id for j in (await queue.list_by_status(Status.COMPLETED)).jobs}
    keys = [k async for k in client.scan_iter(match=f"{queue.keys.tag}*")]
    assert len(keys) > 15
    for key in keys:
        ttl = await client.pttl(key)
        name = key.decode()
        job_id = name.removeprefix(queue.keys.job_prefix)
        if name.startswith(queue.keys.job_prefix) and job_id in completed:
            assert ttl > 0, f"finished job {name} should expire"
        else:
            assert ttl == -1, f"{name} must never expire (pttl {ttl})"


async def test_completed_index_is_trimmed_after_retention(queue: Queue, clock: FakeClock) -> None:
    await queue.enqueue(submission())
    [job] = await queue.reserve("w1")
    await queue.ack("w1", [(job.id, job.token, "ok")])
    assert (await queue.list_by_status(Status.COMPLETED)).total == 1
    clock.advance(queue.config.retention + 1)
    assert await queue.sweep() == (0, 1)
    assert (await queue.list_by_status(Status.COMPLETED)).total == 0


def test_every_key_of_a_queue_is_in_one_cluster_slot() -> None:
    keys = Keys("submissions")
    names = [
        *keys.lanes_block(),
        keys.lane(2, "learner-1"),
        keys.ready(1),
        keys.workers,
        keys.delayed,
        keys.failed,
        keys.completed,
        keys.job_prefix,
        keys.active_prefix,
        keys.idem,
        keys.idem_expiry,
        keys.stats,
        keys.paused,
        keys.limiter,
        keys.job("abcDEF123_-x"),
        keys.active("host-1-abc"),
        keys.submitter("s1"),
        keys.lock("reap"),
    ]
    assert {key_slot(n.encode()) for n in names} == {key_slot(b"{fbq:submissions}")}
    assert all(n.startswith("{fbq:submissions}:") for n in names)
    assert keys.fair == "{fbq:submissions}:fair"  # its field `waiting` is the backlog
