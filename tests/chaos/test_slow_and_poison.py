"""Scenario 7: a slow processor and a poison submission alongside healthy traffic."""

from __future__ import annotations

from feedback_queue.v1 import queue_pb2 as pb
from tests.chaos.conftest import MakeStack
from tests.chaos.journal import FAIL, START

WORKERS, CONCURRENCY, MAX_ATTEMPTS = 2, 4, 3
SLOW, FAST = 12, 300
POISON = "poison-1"


async def test_slow_jobs_and_a_poison_one_do_not_stop_the_rest(make_stack: MakeStack) -> None:
    stack = await make_stack(
        seed=707,
        worker_env={
            "FBQ_CONCURRENCY": str(CONCURRENCY),
            "FBQ_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "FBQ_HEARTBEAT_GRACE": "15s",
        },
    )
    await stack.start_ingest()
    await stack.start_workers(WORKERS)
    # Slow jobs fill every slot of the fleet...
    stack.start_producer("slow", count=SLOW, concurrency=SLOW, metadata={"sleep": "2"})
    await stack.wait_until(
        "every slot busy with a slow job",
        lambda ev: len({e.key for e in ev if e.kind == START}) >= WORKERS * CONCURRENCY,
    )
    # ...while healthy traffic and a poison submission arrive: the backlog grows.
    stack.start_producer("fast", count=FAST, concurrency=4)
    poison = await stack.submit(
        pb.Submission(submitter_id="chaos", content="Poison.", metadata={"poison": "1"}), POISON
    )
    await stack.wait_acked(SLOW + FAST // 2)
    assert (await stack.stats()).waiting > 0, "the backlog grew behind the slow jobs"
    counts = await stack.drain_and_count(expected_failed={POISON})
    assert counts.acknowledged == counts.attempted == SLOW + FAST + 1
    assert counts.completed == SLOW + FAST
    assert (counts.lost, counts.unexpected, counts.duplicated, counts.twins) == (0, 0, 0, 0)
    info = await stack.submissions.GetSubmission(pb.GetSubmissionRequest(id=poison.id))
    assert (info.status, info.attempts) == (pb.FAILED, MAX_ATTEMPTS)
    assert "poison" in info.last_error
    poison_events = [e.kind for e in stack.events() if e.key == POISON and e.kind in (START, FAIL)]
    assert poison_events == [START, FAIL] * MAX_ATTEMPTS
