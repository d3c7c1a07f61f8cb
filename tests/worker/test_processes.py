"""Real worker processes on a real Redis: sharing, kill -9, a Redis outage, SIGTERM, the rate.

Counts follow Jepsen's queue checker: lost (acknowledged, never completed), unexpected
(completed, never submitted) and duplicated (processed more than once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from feedback_queue.connection import create_client
from feedback_queue.errors import QueueUnavailable
from feedback_queue.job import Status
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig
from feedback_queue.up.embedded import EmbeddedRedis
from tests.conftest import redis_settings
from tests.helpers import submission
from tests.worker.conftest import Events, StartWorker

Event = tuple[str, str, int, int]


def finished(ids: Iterable[str]) -> Callable[[list[Event]], bool]:
    wanted = set(ids)
    return lambda seen: wanted <= {job_id for kind, job_id, _, _ in seen if kind == "done"}


def jepsen(acknowledged: set[str], events: Events) -> tuple[int, int, int]:
    started = events.count("start")
    done = set(events.count("done"))
    lost = len(acknowledged - done)
    unexpected = len(done - acknowledged)
    duplicated = sum(n - 1 for n in started.values() if n > 1)
    print(f"lost={lost} unexpected={unexpected} duplicated={duplicated}")
    return lost, unexpected, duplicated


async def test_many_workers_share_one_queue(
    start_worker: StartWorker, events: Events, queue: Queue
) -> None:
    workers = [start_worker(FBQ_CONCURRENCY="4") for _ in range(3)]
    await asyncio.gather(*(w.ready() for w in workers))
    ids = {
        r.id
        for r in await queue.enqueue_many([(submission(f"essay {i}"), 0.0) for i in range(600)])
        if not isinstance(r, Exception)
    }
    assert len(ids) == 600
    await events.until(finished(ids))
    assert jepsen(ids, events) == (0, 0, 0)
    by_worker = {pid for kind, _, _, pid in events.seen if kind == "done"}
    assert by_worker == {w.pid for w in workers}, "every worker took a share"
    for worker in workers:
        worker.terminate()
    assert [await w.exit_code() for w in workers] == [0, 0, 0]
    assert (await queue.stats()).workers == 0


async def test_many_slots_run_two_fetch_loops_that_lose_nothing_to_a_kill_9(
    start_worker: StartWorker, events: Events, queue: Queue
) -> None:
    # 64 slots: two fetch loops of 32 (worker_service/server.py), each its own registered worker.
    env = {"FBQ_CONCURRENCY": "64", "FBQ_HEARTBEAT_GRACE": "4s"}
    doomed = start_worker(**env)
    await doomed.ready()
    assert (await queue.stats()).workers == 2
    results = await queue.enqueue_many([(submission(f"t{i}"), 0.0) for i in range(3000)])
    ids = {r.id for r in results if not isinstance(r, Exception)}
    assert len(ids) == 3000
    await events.until(lambda seen: len(seen) >= 500)
    doomed.kill()
    # What the dead loops held (running, or finished with the ack not yet written) is exactly
    # what may run twice; the reaper hands it back only after the 4 s grace.
    dead = await queue.client.zrange(queue.keys.workers, 0, -1)
    assert len(dead) == 2
    held = 0
    for worker_id in dead:
        assert isinstance(worker_id, bytes)
        held += await queue.client.llen(queue.keys.active(worker_id.decode()))
    rescuer = start_worker(**env)
    await events.until(finished(ids), timeout=60)
    rescuer.terminate()
    assert await rescuer.exit_code() == 0
    lost, unexpected, duplicated = jepsen(ids, events)
    assert (lost, unexpected) == (0, 0)
    assert duplicated <= held, f"{duplicated} ran twice, the killed loops held {held}"
    stats = await queue.stats()
    assert (stats.waiting, stats.active, stats.completed) == (0, 0, 3000)


async def test_kill_9_mid_job_the_jobs_finish_elsewhere_within_the_grace(
    start_worker: StartWorker, events: Events, queue: Queue
) -> None:
    env = {"FBQ_PROCESSOR": "tests.worker.processors:slow_first", "FBQ_HEARTBEAT_GRACE": "4s"}
    doomed = start_worker(FBQ_CONCURRENCY="2", **env)
    await doomed.ready()
    ids = {
        (await queue.enqueue(submission(f"t{i}", metadata={"sleep": "600"}))).id for i in range(2)
    }
    await events.until(lambda seen: len(seen) == 2)
    assert {(kind, pid) for kind, _, _, pid in events.seen} == {("start", doomed.pid)}
    rescuer = start_worker(FBQ_CONCURRENCY="2", **env)
    await rescuer.ready()
    killed_at_ms = int((await queue.client.time())[0]) * 1000  # Redis's clock, like the records
    doomed.kill()
    await events.until(finished(ids))
    rescuer.terminate()  # a clean exit writes every ack first
    assert await rescuer.exit_code() == 0
    for job_id in ids:
        job = await queue.get(job_id)
        assert (job.status, job.attempts) == (Status.COMPLETED, 2)
        assert job.record.worker != ""
        # Picked up once the 4 s grace ran out: reaping runs every second.
        assert job.record.started_ms - killed_at_ms <= (4 + 2 + 1) * 1000
    assert jepsen(ids, events) == (0, 0, 2)  # the two in flight at the kill ran twice


async def test_redis_restart_under_load_loses_nothing(
    start_worker: StartWorker,
    events: Events,
    make_server: type[EmbeddedRedis],
    worker_env: dict[str, str],
) -> None:
    server = make_server(appendonly=True)  # type: ignore[call-arg]
    url = f"redis://127.0.0.1:{server.port}/0"
    # The events go to the tests' own Redis, which stays up.
    workers = [start_worker(REDIS_URL=url, FBQ_CONCURRENCY="4") for _ in range(2)]
    await asyncio.gather(*(w.ready() for w in workers))
    client = create_client(redis_settings(server, connect_timeout=1))
    queue = Queue(client, QueueConfig(name=worker_env["FBQ_QUEUE"]))
    acknowledged: set[str] = set()
    outage = asyncio.Event()

    async def produce() -> None:
        for i in range(400):
            while True:
                try:
                    acknowledged.add((await queue.enqueue(submission(f"t{i}"))).id)
                    break
                except QueueUnavailable:
                    await asyncio.sleep(0.1)  # a producer's own backoff while Redis is away
            if len(acknowledged) == 150:
                outage.set()

    producer = asyncio.create_task(produce())
    await outage.wait()
    server.stop()
    await asyncio.sleep(5)  # the outage itself: Redis is away for 5 s
    server.restart()
    await producer
    await events.until(finished(acknowledged), timeout=60)
    lost, unexpected, duplicated = jepsen(acknowledged, events)
    assert (lost, unexpected) == (0, 0)
    assert duplicated == 0  # no worker died: nothing may run twice
    for worker in workers:
        worker.terminate()
        assert await worker.exit_code() == 0
        assert "Redis is back" in worker.output
    stats = await queue.stats()
    assert (stats.waiting, stats.active, stats.completed) == (0, 0, 400)
    await client.aclose()


async def test_sigterm_hands_running_jobs_back(
    start_worker: StartWorker, events: Events, queue: Queue
) -> None:
    worker = start_worker(
        FBQ_PROCESSOR="tests.worker.processors:slow_first",
        FBQ_CONCURRENCY="2",
        FBQ_SHUTDOWN_GRACE="1s",
    )
    await worker.ready()
    ids = [(await queue.enqueue(submission(f"t{i}"))).id for i in range(3)]
    await events.until(lambda seen: len(seen) == 2)
    worker.terminate()
    assert await worker.exit_code() == 0
    stats = await queue.stats()
    assert (stats.waiting, stats.active, stats.workers) == (3, 0, 0)
    jobs = [await queue.get(i) for i in ids]
    assert [(j.status, j.attempts) for j in jobs] == [(Status.WAITING, 0)] * 3
    assert "2 handed back" in worker.output


async def test_rate_limit_holds_across_two_workers(
    start_worker: StartWorker, events: Events, queue: Queue
) -> None:
    workers = [start_worker(FBQ_RATE_LIMIT="20/s", FBQ_CONCURRENCY="8") for _ in range(2)]
    await asyncio.gather(*(w.ready() for w in workers))
    results = await queue.enqueue_many([(submission(f"t{i}"), 0.0) for i in range(60)])
    ids = {r.id for r in results if not isinstance(r, Exception)}
    await events.until(finished(ids))
    for worker in workers:
        worker.terminate()
        assert await worker.exit_code() == 0
    starts = sorted([(await queue.get(i)).record.started_ms for i in ids])
    # GCRA at 20/s: 20 at once, then one every 50 ms; any 1 s window holds at most 20 + 20.
    busiest = max(sum(1 for t in starts if s <= t < s + 1000) for s in starts)
    print(f"busiest second: {busiest} starts; span {starts[-1] - starts[0]} ms")
    assert busiest <= 40
    assert starts[-1] - starts[0] >= (60 - 20) * 50 - 50
    assert {pid for kind, _, _, pid in events.seen if kind == "start"} == {w.pid for w in workers}
