"""Delays shorter than a millisecond: a job's stored status always matches the structure that
holds it (the reaper hands back only ACTIVE or WAITING ids, the promoter only delayed ones)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from feedback_queue.job import Status, new_id
from feedback_queue.outcomes import Acked
from feedback_queue.queue import Arg, Queue
from feedback_queue.queue.producing import pack_jobs
from feedback_queue.record import decode
from tests.conftest import FakeClock
from tests.helpers import submission


async def where(queue: Queue, client: Redis, job_id: str) -> tuple[Status, bool, bool]:
    """The stored status, and whether the id is in waiting and in delayed."""
    raw = await client.get(queue.keys.job(job_id))
    assert isinstance(raw, bytes)
    in_waiting = job_id in await queue.waiting_ids()
    in_delayed = await client.zscore(queue.keys.delayed, job_id) is not None
    return Status(decode(raw).status), in_waiting, in_delayed


@pytest.mark.parametrize("delay", [0.0001, 0.0009, 0.001, 0.0015])
async def test_a_short_delay_is_delayed_in_delayed_then_runs(
    queue: Queue, client: Redis, clock: FakeClock, delay: float
) -> None:
    result = await queue.enqueue(submission(), delay=delay)
    assert result.status == Status.DELAYED
    assert await where(queue, client, result.id) == (Status.DELAYED, False, True)
    assert await queue.reserve("w1") == []
    clock.advance(0.002)
    assert await queue.promote_due() == 1
    assert await where(queue, client, result.id) == (Status.WAITING, True, False)
    [taken] = await queue.reserve("w1")
    assert taken.id == result.id
    assert await queue.ack("w1", [(taken.id, taken.token, "done")]) == [Acked.COMPLETED]
    assert (await queue.get(result.id)).status == Status.COMPLETED


async def test_no_delay_is_waiting_in_waiting(queue: Queue, client: Redis) -> None:
    result = await queue.enqueue(submission(), delay=0)
    assert result.status == Status.WAITING
    assert await where(queue, client, result.id) == (Status.WAITING, True, False)


@pytest.mark.parametrize(
    ("delay_ms", "stored", "in_waiting"),
    [
        (0, Status.WAITING, True),  # no delay: waiting
        (1, Status.DELAYED, False),  # the shortest delay the script knows: delayed
    ],
)
async def test_the_script_stores_the_status_of_where_it_puts_the_id(
    queue: Queue, client: Redis, delay_ms: int, stored: Status, in_waiting: bool
) -> None:
    # The script itself writes the record, so its status and its structure cannot disagree.
    k = queue.keys
    keys = queue.enqueue_keys()
    payload = submission().SerializeToString(deterministic=True)
    job_id = new_id()
    # now (0: Redis's clock), idempotency TTL, cap, rate, period; then the jobs: id, payload,
    # key, digest, delay (ms), submitter, owner
    args: list[Arg] = [
        0,
        60_000,
        0,
        0,
        0,
        pack_jobs([(job_id, payload, "", "", delay_ms, "s1", "", "")]),
    ]
    [_, status, _] = await queue.scripts.enqueue(keys=keys, args=args)
    assert status == stored
    assert await where(queue, client, job_id) == (stored, in_waiting, not in_waiting)
    raw = await client.get(k.job(job_id))
    assert isinstance(raw, bytes)
    record = decode(raw)
    assert record.payload == payload
    assert record.run_at_ms == (record.enqueued_ms + delay_ms if delay_ms else 0)
