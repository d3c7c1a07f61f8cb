"""A processor result over FBQ_MAX_RESULT_BYTES fails its attempt for good with a last_error that
says so, and the submission stays readable (issue #21, finding 4: a 20 MB result made its
submission unreadable). A real worker process and a real ingest process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from feedback_queue.job import FINAL, Status
from feedback_queue.queue import Queue
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.helpers import submission
from tests.ingest.real import ingest_process
from tests.worker.conftest import StartWorker


async def test_a_20_mb_result_fails_the_attempt_for_good_and_the_submission_stays_readable(
    start_worker: StartWorker,
    queue: Queue,
    redis_server: EmbeddedRedis,
    queue_name: str,
    tmp_path: Path,
) -> None:
    worker = start_worker(FBQ_PROCESSOR="tests.worker.processors:huge")
    try:
        await worker.ready()
        big, small = await queue.enqueue_many(
            [
                (submission("big", metadata={"result_bytes": str(20_000_000)}), 0.0),
                (submission("small", metadata={"result_bytes": "1000"}), 0.0),
            ]
        )
        assert not isinstance(big, Exception)
        assert not isinstance(small, Exception)
        for _ in range(600):  # 30 s at most
            if {(await queue.get(i)).status for i in (big.id, small.id)} <= FINAL:
                break
            await asyncio.sleep(0.05)
    finally:
        worker.terminate()
        assert await worker.exit_code() == 0
    failed, completed = await queue.get(big.id), await queue.get(small.id)
    assert (failed.status, failed.attempts, failed.record.result) == (Status.FAILED, 1, "")
    assert "20000000 bytes" in failed.record.error
    assert "FBQ_MAX_RESULT_BYTES" in failed.record.error
    assert (completed.status, completed.record.result) == (Status.COMPLETED, "r" * 1000)
    async with (
        ingest_process(redis_server, queue_name, tmp_path) as ingest,
        grpc.aio.insecure_channel(ingest.address) as channel,
    ):
        info = await pb_grpc.SubmissionServiceStub(channel).GetSubmission(
            pb.GetSubmissionRequest(id=big.id)
        )
    assert info.status == pb.FAILED
    assert "FBQ_MAX_RESULT_BYTES" in info.last_error
