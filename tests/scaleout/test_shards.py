"""FBQ_SHARDS on a three-master Redis Cluster: one logical queue spreads
over the three masters, ingest routes by submitter and finds any id, listings and counts cover
every shard, and one worker process drains them all."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import grpc

from feedback_queue.keys import Keys, shard_names
from feedback_queue.settings import Settings, WorkerConfig
from feedback_queue.up.embedded import free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from ingest_service.server import create_server
from tests.scaleout.cluster import ClusterSetup
from worker_service.server import serve

JOBS, SUBMITTERS = 300, 30


def test_the_shards_of_one_queue_live_on_different_masters(cluster: ClusterSetup) -> None:
    names = shard_names("submissions", 3)
    masters = {cluster.node_of(Keys(name).fair).port for name in names}
    assert len(masters) == 3


async def test_one_sharded_queue_through_ingest_and_a_worker(cluster: ClusterSetup) -> None:
    settings = dataclasses.replace(
        Settings.from_env(
            {
                "REDIS_URL": cluster.url,
                "FBQ_REDIS_CLUSTER": "true",
                "FBQ_SHARDS": "3",
                "FBQ_QUEUE": "sharded",
                "FBQ_WORKER_HEALTH_PORT": str(free_port()),
            }
        ),
        worker=dataclasses.replace(WorkerConfig(), block_timeout=0.2),
    )
    ingest = create_server(settings, port=0)
    await ingest.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{ingest.port}")
    submissions = pb_grpc.SubmissionServiceStub(channel)
    admin = pb_grpc.AdminServiceStub(channel)
    try:
        await admin.PauseQueue(pb.PauseQueueRequest())  # pauses every shard
        requests = [
            pb.SubmitRequest(
                submission=pb.Submission(
                    submitter_id=f"learner-{n % SUBMITTERS}",
                    content=f"Essay number {n}. It has two sentences.",
                    idempotency_key=f"k{n}",
                )
            )
            for n in range(JOBS)
        ]
        ids = [r.accepted.id async for r in submissions.SubmitStream(iter(requests))]
        assert len(set(ids)) == JOBS
        # Every shard got some, and any id is found wherever it lives.
        shard_of = {shard.keys.queue: shard for shard in ingest.queue.shards}  # type: ignore[attr-defined]
        per_shard = [(await shard.stats()).waiting for shard in shard_of.values()]
        assert sum(per_shard) == JOBS
        assert all(count > 0 for count in per_shard)
        for job_id in ids[:: JOBS // 10]:
            info = await submissions.GetSubmission(pb.GetSubmissionRequest(id=job_id))
            assert info.status == pb.WAITING
        listed: list[str] = []
        token = ""
        while True:  # pages cover every shard, each id once
            page = await admin.ListSubmissions(
                pb.ListSubmissionsRequest(status=pb.WAITING, page_size=70, page_token=token)
            )
            listed += [s.id for s in page.submissions]
            token = page.next_page_token
            if not token:
                break
        assert sorted(listed) == sorted(ids)
        stats = await admin.GetQueueStats(pb.GetQueueStatsRequest())
        assert (stats.waiting, stats.paused) == (JOBS, True)

        stop = asyncio.Event()
        worker = asyncio.create_task(serve(settings, stop=stop))  # one loop per shard
        await admin.ResumeQueue(pb.ResumeQueueRequest())
        deadline = time.monotonic() + 60
        while (await admin.GetQueueStats(pb.GetQueueStatsRequest())).completed < JOBS:
            assert time.monotonic() < deadline, "the shards were not all drained"
            assert not worker.done()
            await asyncio.sleep(0.05)
        stop.set()
        await worker
        final = await admin.GetQueueStats(pb.GetQueueStatsRequest())
        assert (final.waiting, final.active, final.completed) == (0, 0, JOBS)
    finally:
        await channel.close(None)
        await ingest.stop(grace=0)
