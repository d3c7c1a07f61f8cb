"""The Python client follows progress and cancels over a real ingest: `watch` yields each
progress report of the running attempt, `cancel` answers whether it cancelled, and `wait`
raises SubmissionCancelled for a cancelled submission."""

from __future__ import annotations

import asyncio

import pytest

from feedback_queue.client import AsyncClient, Client, Conflict, SubmissionCancelled
from feedback_queue.progress import Progress
from feedback_queue.v1 import queue_pb2 as pb
from tests.client.conftest import address
from tests.ingest.conftest import Ingest


async def test_watch_yields_progress_as_the_attempt_reports_it(
    ingest: Ingest, aclient: AsyncClient
) -> None:
    submitted = await aclient.submit(content="An essay.", submitter_id="learner-1")
    await ingest.queue.heartbeat("w1")
    [job] = await ingest.queue.reserve("w1")
    watch = aclient.watch(submitted.id, timeout=30)
    assert (await anext(watch)).status == pb.ACTIVE
    for percent in (20.0, 70.0):
        await ingest.queue.report([(job.id, job.token, Progress(percent, "working").encode())], 0)
        info = await anext(watch)
        assert (info.status, info.progress.percent, info.progress.message) == (
            pb.ACTIVE,
            percent,
            "working",
        )
    await ingest.queue.ack("w1", [(job.id, job.token, "ok")])
    final = await anext(watch)
    assert (final.status, final.HasField("progress")) == (pb.COMPLETED, False)


async def test_cancel_then_wait_raises_and_a_finished_one_is_a_conflict(
    ingest: Ingest, aclient: AsyncClient
) -> None:
    first = await aclient.submit(content="Essay one.", submitter_id="learner-1")
    waiter = asyncio.create_task(aclient.wait(first.id, timeout=30))
    assert await aclient.cancel(first.id) is True
    assert await aclient.cancel(first.id) is False  # again: already
    with pytest.raises(SubmissionCancelled, match="cancelled by"):
        await waiter
    second = await aclient.submit(content="Essay two.", submitter_id="learner-1")
    [job] = (await ingest.queue.take("w1", 1)).jobs
    await ingest.queue.ack("w1", [(job.id, job.token, "ok")])
    with pytest.raises(Conflict) as refused:
        await aclient.cancel(second.id)
    assert refused.value.reason == "NOT_CANCELLABLE"

    def sync_side() -> pb.Status.ValueType:  # a blocking client: in a thread of its own
        with Client(address(ingest)) as client:
            third = client.submit(content="Essay three.", submitter_id="other")
            assert client.cancel_matching(submitter_id="other", dry_run=True) == 1
            assert client.cancel_matching(submitter_id="other") == 1
            return client.get(third.id).status

    assert await asyncio.to_thread(sync_side) == pb.CANCELLED
