"""SubmissionService: Submit, SubmitStream, GetSubmission, WatchSubmission."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from feedback_queue.errors import InvalidSubmission, QueueError
from feedback_queue.job import FINAL
from feedback_queue.queue import EnqueueResult
from feedback_queue.rpc import Context, abort, status_for
from feedback_queue.sharded import QueueApi
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from feedback_queue.validation import validate_id
from ingest_service.batcher import Batcher

log = logging.getLogger(__name__)

# Requests a stream may have read ahead of the writes; beyond it the client is slowed down.
STREAM_BUFFER = 1024
STREAM_BATCH = 256
_END = None


def delay_of(request: pb.SubmitRequest) -> float:
    """The request's delay in seconds; a malformed Duration is the caller's error."""
    delay = request.delay
    if delay.seconds < 0 or delay.nanos < 0 or delay.nanos >= 1_000_000_000:
        raise InvalidSubmission("delay", "must be a non-negative duration")
    return delay.seconds + delay.nanos / 1e9


def check_request(request: pb.SubmitRequest) -> tuple[pb.Submission, float]:
    if not request.HasField("submission"):
        raise InvalidSubmission("submission", "required")
    return request.submission, delay_of(request)


def accepted(result: EnqueueResult) -> pb.SubmitResponse:
    return pb.SubmitResponse(
        id=result.id, status=pb.Status.ValueType(result.status), duplicate=result.duplicate
    )


class SubmissionServicer(pb_grpc.SubmissionServiceServicer):
    def __init__(self, queue: QueueApi, *, watch_interval: float = 0.25) -> None:
        self.queue = queue
        self.batcher = Batcher(queue)
        self.watch_interval = watch_interval

    async def Submit(self, request: pb.SubmitRequest, context: Context) -> pb.SubmitResponse:
        try:
            submission, delay = check_request(request)
            return accepted(await self.batcher.submit(submission, delay))
        except QueueError as exc:
            await abort(context, exc, "Submit")

    async def SubmitStream(
        self, request_iterator: AsyncIterator[pb.SubmitRequest], context: Context
    ) -> AsyncIterator[pb.SubmitStreamResponse]:
        buffer: asyncio.Queue[pb.SubmitRequest | BaseException | None] = asyncio.Queue(
            STREAM_BUFFER
        )

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await buffer.put(request)
                await buffer.put(_END)
            except Exception as exc:
                await buffer.put(exc)

        reader = asyncio.create_task(read())
        index = 0
        try:
            ended = False
            while not ended:
                batch: list[pb.SubmitRequest] = []
                item = await buffer.get()
                while True:
                    if item is _END:
                        ended = True
                        break
                    if isinstance(item, BaseException):
                        raise item
                    batch.append(item)
                    if len(batch) >= STREAM_BATCH or buffer.empty():
                        break
                    item = buffer.get_nowait()
                for outcome in await self._enqueue_batch(batch):
                    yield self._stream_response(index, outcome)
                    index += 1
        finally:
            reader.cancel()

    async def _enqueue_batch(
        self, batch: list[pb.SubmitRequest]
    ) -> list[EnqueueResult | QueueError]:
        outcomes: list[EnqueueResult | QueueError | None] = []
        valid: list[tuple[pb.Submission, float]] = []
        for request in batch:
            try:
                valid.append(check_request(request))
                outcomes.append(None)
            except QueueError as exc:
                outcomes.append(exc)
        try:
            results = iter(await self.queue.enqueue_many(valid)) if valid else iter(())
        except QueueError as exc:
            log.warning("SubmitStream: a batch of %d was refused: %s", len(valid), exc)
            results = iter([exc] * len(valid))
        return [o if o is not None else next(results) for o in outcomes]

    @staticmethod
    def _stream_response(
        index: int, outcome: EnqueueResult | QueueError
    ) -> pb.SubmitStreamResponse:
        if isinstance(outcome, EnqueueResult):
            return pb.SubmitStreamResponse(index=index, accepted=accepted(outcome))
        code, message = status_for(outcome)
        field = outcome.field if isinstance(outcome, InvalidSubmission) else ""
        log.info("SubmitStream item %d refused %s: %s", index, code.name, message)
        return pb.SubmitStreamResponse(
            index=index, error=pb.SubmitError(code=code.value[0], message=message, field=field)
        )

    async def GetSubmission(
        self, request: pb.GetSubmissionRequest, context: Context
    ) -> pb.SubmissionInfo:
        try:
            job = await self.queue.get(request.id)
        except QueueError as exc:
            await abort(context, exc, "GetSubmission")
        return job.to_info(self.queue.max_attempts)

    async def WatchSubmission(
        self, request: pb.WatchSubmissionRequest, context: Context
    ) -> AsyncIterator[pb.SubmissionInfo]:
        # Polling the record is simple and loses no change that matters: every state is kept
        # until the next one, and the final ones forever (or for the retention period).
        last = None
        try:
            validate_id(request.id)
            while True:
                job = await self.queue.get(request.id)
                if job.record != last:
                    last = job.record
                    yield job.to_info(self.queue.max_attempts)
                if job.status in FINAL:
                    return
                await asyncio.sleep(self.watch_interval)
        except QueueError as exc:
            await abort(context, exc, "WatchSubmission")
