"""A submission's owner (#21) lives in its record's extras from enqueue to its end: every script
that rewrites the record keeps it (consume.lua's ack takes its general path for such records)."""

from __future__ import annotations

from feedback_queue.job import Status
from feedback_queue.queue import Failure, Owner, Queue
from tests.conftest import FakeClock
from tests.helpers import submission

ALICE = Owner("alice", "alice")


async def test_the_owner_survives_every_step_of_a_job(queue: Queue, clock: FakeClock) -> None:
    plain = await queue.enqueue(submission("nobody's"))
    owned = await queue.enqueue(submission("alice's"), owner=ALICE)
    later = await queue.enqueue(submission("alice's, later"), delay=5.0, owner=ALICE)
    assert (await queue.get(plain.id)).owner == ""
    assert (await queue.get(owned.id)).owner == "alice"
    delayed = await queue.get(later.id)
    assert (delayed.owner, delayed.status) == ("alice", Status.DELAYED)
    assert delayed.record.run_at_ms == int((clock.now + 5.0) * 1000)

    first = {job.id: job for job in await queue.reserve("w1", count=2)}
    assert first[owned.id].owner == "alice"  # taken: the header patched, the extras kept
    [status] = await queue.fail("w1", [Failure(first[owned.id], "flaky")])
    assert status == Status.DELAYED
    failed_once = await queue.get(owned.id)
    assert (failed_once.owner, failed_once.record.error) == ("alice", "flaky")
    clock.advance(queue.config.backoff.cap + 5.0)
    assert await queue.promote_due() == 2
    assert (await queue.get(later.id)).owner == "alice"
    again = await queue.reserve("w1", count=10)
    await queue.ack("w1", [(job.id, job.token, "done") for job in [*again, first[plain.id]]])
    for job_id, owner in ((owned.id, "alice"), (later.id, "alice"), (plain.id, "")):
        done = await queue.get(job_id)
        assert (done.status, done.owner, done.record.result) == (Status.COMPLETED, owner, "done")
    info = (await queue.get(owned.id)).to_info(queue.max_attempts)
    assert info.principal == "alice"


async def test_owners_keys_are_scoped_and_the_unscoped_ones_stay_where_they_were(
    queue: Queue,
) -> None:
    bare = await queue.enqueue(submission("text", idempotency_key="k"))
    alices = await queue.enqueue(submission("text", idempotency_key="k"), owner=ALICE)
    legacy = await queue.enqueue(submission("text", idempotency_key="k"), owner=Owner("admin"))
    assert alices.id != bare.id
    assert not alices.duplicate
    # FBQ_GRPC_TOKEN's principal (scope "") finds what was submitted before roles.
    assert (legacy.id, legacy.duplicate) == (bare.id, True)
    assert (await queue.get(legacy.id)).owner == ""  # the record is the original one
