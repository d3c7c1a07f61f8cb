"""AsyncClient and Client against a real ingest: submit, get, watch, wait, admin calls."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest

from feedback_queue.client import (
    AsyncClient,
    Client,
    Conflict,
    DeadlineExceeded,
    NotFound,
    ProcessingFailed,
    Status,
    Submission,
    Submitted,
)
from tests.client.conftest import address, running_worker
from tests.ingest.conftest import Ingest


async def test_submit_get_and_wait_for_the_result(aclient: AsyncClient, ingest: Ingest) -> None:
    job = await aclient.submit(
        "Three words here.",
        "learner-7",
        kind="essay",
        instructions="be kind",
        metadata={"course": "bio"},
    )
    assert (job.status, job.duplicate) == (Status.WAITING, False)
    stored = (await ingest.queue.get(job.id)).submission
    assert (stored.content, stored.submitter_id, stored.kind) == (
        "Three words here.",
        "learner-7",
        "essay",
    )
    assert dict(stored.metadata) == {"course": "bio"}
    # No key was given: the client made one, and sent it.
    assert stored.idempotency_key == job.idempotency_key
    assert len(job.idempotency_key) >= 20

    info = await aclient.get(job.id)
    assert (info.id, info.status) == (job.id, Status.WAITING)
    async with running_worker(ingest.queue):
        final = await aclient.wait(job.id, timeout=30)
    assert final.status == Status.COMPLETED
    assert json.loads(final.result) == {"words": 3}


async def test_every_submit_has_a_key_and_the_same_submission_is_never_twice(
    aclient: AsyncClient, ingest: Ingest
) -> None:
    a = await aclient.submit("same text", "s1")
    b = await aclient.submit("same text", "s1")
    assert a.id != b.id  # two calls, two keys, two jobs
    assert a.idempotency_key != b.idempotency_key

    essay = Submission("An essay kept for retries.", "s1", delay=60)
    first = await aclient.submit(essay)
    again = await aclient.submit(essay)  # e.g. after an error the caller could not judge
    assert first.status == Status.DELAYED
    assert (again.id, again.duplicate) == (first.id, True)
    assert (await ingest.queue.stats()).enqueued_total == 3

    given = await aclient.submit("text", "s1", idempotency_key="my-key")
    assert given.idempotency_key == "my-key"
    with pytest.raises(Conflict) as conflict:
        await aclient.submit("other text", "s1", idempotency_key="my-key")
    assert conflict.value.reason == "IDEMPOTENCY_KEY_CONFLICT"
    assert conflict.value.field == "submission.idempotency_key"


async def test_a_submission_alone_or_its_fields(aclient: AsyncClient) -> None:
    with pytest.raises(TypeError, match="Submission alone"):
        await aclient.submit(Submission("text", "s1"), "s2")
    with pytest.raises(TypeError, match="submitter_id"):
        await aclient.submit("text")


async def test_watch_yields_each_state_once_until_final(
    aclient: AsyncClient, ingest: Ingest
) -> None:
    job = await aclient.submit("Watch me work.", "s1")
    watch = aclient.watch(job.id, timeout=30)
    seen = [await anext(watch)]  # the state now, before any worker runs
    async with running_worker(ingest.queue):
        seen += [info async for info in watch]
    statuses = [info.status for info in seen]
    assert statuses[0] == Status.WAITING
    assert statuses[-1] == Status.COMPLETED
    assert all(a != b for a, b in itertools.pairwise(seen))  # no state repeated
    # A finished submission: one state, then the watch ends.
    assert [i.status async for i in aclient.watch(job.id)] == [Status.COMPLETED]


async def test_wait_raises_processing_failed_with_the_info(
    aclient: AsyncClient, ingest: Ingest
) -> None:
    job = await aclient.submit("This one fails.", "s1", metadata={"fail": "yes"})
    async with running_worker(ingest.queue):
        with pytest.raises(ProcessingFailed) as failed:
            await aclient.wait(job.id, timeout=30)
    assert failed.value.info.status == Status.FAILED
    assert failed.value.info.id == job.id
    assert str(failed.value) == (
        f"submission {job.id} FAILED after 1 attempt: PermanentError: asked to fail"
    )


async def test_admin_calls(aclient: AsyncClient, ingest: Ingest) -> None:
    job = await aclient.submit("Dead letter me.", "s1", metadata={"fail": "yes"})
    async with running_worker(ingest.queue):
        with pytest.raises(ProcessingFailed):
            await aclient.wait(job.id, timeout=30)
    assert (await aclient.health()).status in ("healthy", "degraded")
    stats = await aclient.stats()
    assert (stats.failed, stats.enqueued_total) == (1, 1)
    page = await aclient.list_submissions(Status.FAILED, page_size=10)
    assert ([i.id for i in page.submissions], page.total) == ([job.id], 1)

    assert await aclient.pause() is True
    assert (await aclient.stats()).paused
    assert await aclient.resume() is False

    assert await aclient.retry_failed(job.id) == 1
    with pytest.raises(Conflict) as wrong_state:
        await aclient.retry_failed(job.id)  # WAITING now
    assert wrong_state.value.reason == "WRONG_STATE"
    await aclient.delete(job.id)
    with pytest.raises(NotFound) as gone:
        await aclient.get(job.id)
    assert (gone.value.reason, gone.value.field) == ("NOT_FOUND", "id")
    assert str(gone.value) == f"no submission with id {job.id!r}"
    assert await aclient.retry_failed() == 0  # every failed one: none left


async def test_from_env_reads_the_address_as_fbq_does(ingest: Ingest) -> None:
    environ = {"FBQ_INGEST_ADDR": address(ingest)}
    async with AsyncClient.from_env(environ) as client:
        assert client.target.address == address(ingest)
        assert client.target.token is None
        assert (await client.stats()).enqueued_total == 0

    def sync_calls() -> None:  # in a thread: this loop serves ingest
        with Client.from_env(environ, timeout=3) as client:
            assert client.timeout == 3
            assert client.stats().enqueued_total == 0

    await asyncio.to_thread(sync_calls)


async def test_the_sync_client_does_the_same(ingest: Ingest) -> None:
    def sync_calls() -> None:  # in a thread: this loop serves ingest
        with Client(address(ingest)) as client:
            job = client.submit("Sync words.", "s1")
            kept = Submission("Kept.", "s1")
            assert not client.submit(kept).duplicate
            assert client.submit(kept).duplicate
            assert client.get(job.id).status == Status.WAITING
            with pytest.raises(NotFound):
                client.get("AAAAAAAAAAAA")
            watched = client.watch(job.id, timeout=0.5)
            assert next(watched).status == Status.WAITING
            with pytest.raises(DeadlineExceeded, match=f"{job.id} was not final within"):
                next(watched)
            done = [r for r in client.submit_many([Submission(f"n{i}", "s1") for i in range(3)])]
            assert all(isinstance(r, Submitted) for r in done)

    await asyncio.to_thread(sync_calls)
