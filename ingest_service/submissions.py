"""SubmissionService: Submit, SubmitBatch, SubmitStream, GetSubmission, WatchSubmission,
CancelSubmission."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence

from feedback_queue.errors import (
    BatchTooLarge,
    InvalidSubmission,
    NotFound,
    QueueError,
    QueueUnavailable,
)
from feedback_queue.job import FINAL, Job
from feedback_queue.queue import CancelFilter, EnqueueResult
from feedback_queue.refusal import refusal_for, role_forbids
from feedback_queue.rpc import Context, abort, refuse
from feedback_queue.sharded import QueueApi
from feedback_queue.tracing import Tracing
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from feedback_queue.validation import validate_id
from ingest_service import identity
from ingest_service.batcher import Batcher
from ingest_service.readahead import ReadAhead
from ingest_service.throttle import ThrottledLog

log = logging.getLogger(__name__)

# Requests a stream may have read ahead of the writes (and FBQ_STREAM_READ_AHEAD_BYTES of them);
# beyond it the client is slowed down.
STREAM_BUFFER = 1024
STREAM_BATCH = 256
_END = None
DEFAULT_MAX_BATCH = 1000
DEFAULT_MAX_STREAM_REQUEST = 384 * 1024
DEFAULT_READ_AHEAD_BYTES = 1024 * 1024


def delay_of(request: pb.SubmitRequest) -> float:
    """The request's delay in seconds; a malformed Duration is the caller's error."""
    delay = request.delay
    if delay.seconds < 0 or delay.nanos < 0 or delay.nanos >= 1_000_000_000:
        raise InvalidSubmission("delay", "must be a non-negative duration")
    return delay.seconds + delay.nanos / 1e9


def check_request(request: pb.SubmitRequest | InvalidSubmission) -> tuple[pb.Submission, float]:
    """The submission and delay of a request; a stream's oversize request is its own error."""
    if isinstance(request, InvalidSubmission):
        raise request
    if not request.HasField("submission"):
        raise InvalidSubmission("submission", "required")
    return request.submission, delay_of(request) if request.HasField("delay") else 0.0


def fill(reply: pb.SubmitResponse, result: EnqueueResult) -> None:
    """Write an accepted result into `reply` (a new message, or one inside a batch's)."""
    reply.id = result.id
    reply.status = pb.Status.ValueType(result.status)
    if result.duplicate:
        reply.duplicate = True


def accepted(result: EnqueueResult) -> pb.SubmitResponse:
    reply = pb.SubmitResponse()
    fill(reply, result)
    return reply


def _oversize(size: int, limit: int) -> str:
    return (
        f"this streamed request is {size} bytes, over the {limit} a single submission may take; "
        "shorten the content"
    )


def batch_response(results: Sequence[EnqueueResult | QueueError]) -> pb.SubmitBatchResponse:
    """Each item's outcome in order, and the counts.

    Filled in place (`outcomes.add()` and field by field): a quarter of the CPU of building
    each outcome as a message of its own, on the hot path of every batch.
    """
    response = pb.SubmitBatchResponse()
    add = response.outcomes.add
    refused = 0
    for result in results:
        if isinstance(result, EnqueueResult):
            fill(add().accepted, result)
        else:
            add().error.CopyFrom(refusal_for(result).item_error())
            refused += 1
    response.accepted = len(results) - refused
    response.refused = refused
    return response


def summary(response: pb.SubmitBatchResponse) -> str:
    """How many of a batch were refused, by reason: one log line instead of one per item."""
    reasons = Counter(o.error.reason for o in response.outcomes if o.HasField("error"))
    return ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))


def cancel_filter(given: pb.CancelFilter) -> CancelFilter:
    """The queue's filter for a request's (CancelFilter says what is wrong with it, by
    field); no statuses means both."""
    if not given.statuses:
        return CancelFilter(given.submitter_id, given.fairness_key)
    return CancelFilter(given.submitter_id, given.fairness_key, frozenset(given.statuses))


def fingerprint(job: Job) -> tuple[object, ...]:
    """What tells one state of a job from the next, in a few dozen bytes: the payload never
    changes, a result or error is represented by its hash and length, and a progress report by
    when it was taken."""
    record = job.record
    return (
        job.progress.updated_ms if job.progress else 0,
        record.status,
        record.attempts,
        record.started_ms,
        record.finished_ms,
        record.run_at_ms,
        record.worker,
        hash(record.error),
        len(record.error),
        hash(record.result),
        len(record.result),
    )


class SubmissionServicer(pb_grpc.SubmissionServiceServicer):
    def __init__(
        self,
        queue: QueueApi,
        *,
        watch_interval: float = 0.25,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_stream_request: int = DEFAULT_MAX_STREAM_REQUEST,
        read_ahead_bytes: int = DEFAULT_READ_AHEAD_BYTES,
        tracing: Tracing | None = None,
    ) -> None:
        self.tracing = tracing
        self.queue = queue
        self.batcher = Batcher(queue)
        self.watch_interval = watch_interval
        self.max_batch = max_batch
        # gRPC's message limit is a batch's; a stream's read-ahead holds single submissions.
        self.max_stream_request = max_stream_request
        self.read_ahead_bytes = read_ahead_bytes
        self.refusals = ThrottledLog(log)

    async def Submit(self, request: pb.SubmitRequest, context: Context) -> pb.SubmitResponse:
        try:
            submission, delay = check_request(request)
            owner = identity.owner()
            return accepted(await self.batcher.submit(submission, delay, owner, self._trace()))
        except QueueError as exc:
            await abort(context, exc, "Submit")

    async def SubmitBatch(
        self, request: pb.SubmitBatchRequest, context: Context
    ) -> pb.SubmitBatchResponse:
        """Each item's outcome in request order. The call fails only when nothing could be
        processed: a batch out of bounds, or Redis unavailable for every item."""
        try:
            count = len(request.requests)
            if not 1 <= count <= self.max_batch:
                raise BatchTooLarge(
                    "requests",
                    f"{count} submissions; send 1 to {self.max_batch} per batch "
                    "(FBQ_MAX_BATCH): split it",
                )
            results = await self._enqueue_batch(request.requests)
            unavailable = [r for r in results if isinstance(r, QueueUnavailable)]
            if len(unavailable) == count:  # nothing was written: a retry policy may resend all
                raise unavailable[0]
        except QueueError as exc:
            await abort(context, exc, "SubmitBatch")
        response = batch_response(results)
        if response.refused:
            log.info("SubmitBatch refused %d of %d: %s", response.refused, count, summary(response))
        return response

    async def SubmitStream(
        self, request_iterator: AsyncIterator[pb.SubmitRequest], context: Context
    ) -> AsyncIterator[pb.SubmitStreamResponse]:
        buffer: ReadAhead[pb.SubmitRequest | InvalidSubmission | BaseException | None] = ReadAhead(
            self.read_ahead_bytes, STREAM_BUFFER
        )
        limit = self.max_stream_request

        async def read() -> None:
            try:
                async for request in request_iterator:
                    size = request.ByteSize()
                    if size > limit:  # not kept: the read-ahead stays bounded by bytes
                        await buffer.put(InvalidSubmission("submission", _oversize(size, limit)))
                    else:
                        await buffer.put(request, size)
                await buffer.put(_END)
            except Exception as exc:
                await buffer.put(exc)

        reader = asyncio.create_task(read())
        index = 0
        try:
            ended = False
            while not ended:
                batch: list[pb.SubmitRequest | InvalidSubmission] = []
                held = 0
                for item, size in await buffer.take(STREAM_BATCH):
                    if item is _END:
                        ended = True
                        break
                    if isinstance(item, BaseException) and not isinstance(item, InvalidSubmission):
                        raise item
                    batch.append(item)
                    held += size
                for outcome in await self._enqueue_batch(batch):
                    yield self._stream_response(index, outcome)
                    index += 1
                # Released once written and answered: a client that reads no replies stops
                # the reader too, instead of piling up requests.
                await buffer.release(held)
        finally:
            reader.cancel()

    async def _enqueue_batch(
        self, batch: Sequence[pb.SubmitRequest | InvalidSubmission]
    ) -> list[EnqueueResult | QueueError]:
        """Each request's result or error; the valid ones enqueued together."""
        outcomes: list[EnqueueResult | QueueError | None] = []
        valid: list[tuple[pb.Submission, float]] = []
        for request in batch:
            try:
                valid.append(check_request(request))
                outcomes.append(None)
            except QueueError as exc:
                outcomes.append(exc)
        owner = identity.owner()
        # The call's trace for each of its submissions (SubmitBatch, SubmitStream).
        traces = [self._trace()] * len(valid) if self.tracing is not None else []
        found = await self.queue.enqueue_many(valid, owner, traces) if valid else []
        results = iter(found)
        return [o if o is not None else next(results) for o in outcomes]

    def _stream_response(
        self, index: int, outcome: EnqueueResult | QueueError
    ) -> pb.SubmitStreamResponse:
        if isinstance(outcome, EnqueueResult):
            return pb.SubmitStreamResponse(index=index, accepted=accepted(outcome))
        refusal = refusal_for(outcome)
        # A stream of refused items must not become a stream of log lines (issue #21).
        self.refusals.log(
            refusal.reason,
            "SubmitStream item %d refused %s: %s",
            index,
            refusal.code.name,
            refusal.message,
        )
        return pb.SubmitStreamResponse(index=index, error=refusal.item_error())

    async def GetSubmission(
        self, request: pb.GetSubmissionRequest, context: Context
    ) -> pb.SubmissionInfo:
        try:
            job = await self._visible(request.id)
        except QueueError as exc:
            await abort(context, exc, "GetSubmission")
        return job.to_info(self.queue.max_attempts)

    def _trace(self) -> str:
        """The current call's W3C traceparent, kept with what it submits ("" untraced)."""
        return self.tracing.traceparent() if self.tracing is not None else ""

    async def _visible(self, job_id: str) -> Job:
        """The job, if the caller may see it; another principal's is NOT_FOUND to a producer,
        exactly as an unknown id, so ids cannot be probed."""
        job = await self.queue.get(job_id)
        if not identity.may_see(job.owner):
            raise NotFound(job_id)
        return job

    async def CancelSubmission(
        self, request: pb.CancelSubmissionRequest, context: Context
    ) -> pb.CancelSubmissionResponse:
        principal = identity.current()
        try:
            if request.HasField("filter") == bool(request.id):
                both = "not both" if request.id else "one is required"
                raise InvalidSubmission("id", f"give either an id or a filter ({both})")
            if request.id:
                if request.dry_run:
                    raise InvalidSubmission("dry_run", "applies to a filter only")
                await self._visible(request.id)
                cancelled = await self.queue.cancel(request.id, principal.name)
                done = "cancelled" if cancelled else "was cancelled already; asked again"
                log.info("CancelSubmission: %s %s by %s", request.id, done, principal.name)
                return pb.CancelSubmissionResponse(status=pb.CANCELLED, already=not cancelled)
            if not principal.steers:
                await refuse(
                    context, role_forbids(principal.role.value, "CancelSubmission by filter")
                )
            where = cancel_filter(request.filter)
            count = await self.queue.cancel_where(where, principal.name, dry_run=request.dry_run)
        except QueueError as exc:
            await abort(context, exc, "CancelSubmission")
        if request.dry_run:
            return pb.CancelSubmissionResponse(matched=count)
        log.info("CancelSubmission: %d cancelled by filter, by %s", count, principal.name)
        return pb.CancelSubmissionResponse(matched=count, cancelled=count)

    async def WatchSubmission(
        self, request: pb.WatchSubmissionRequest, context: Context
    ) -> AsyncIterator[pb.SubmissionInfo]:
        # Polling the record is simple and loses no change that matters: every state is kept
        # until the next one, and the final ones forever (or for the retention period).
        # Each look is a glance (a few bytes); the record is read only when the glance changed,
        # and kept only as its fingerprint: hundreds of watches of large records stay cheap.
        last = glanced = None
        try:
            validate_id(request.id)
            while True:
                glance = await self.queue.glance(request.id)
                if glance != glanced:
                    glanced = glance
                    # Whose it is is checked at the first read: the owner never changes.
                    job = await self._visible(request.id)
                    if (seen := fingerprint(job)) != last:
                        last = seen
                        yield job.to_info(self.queue.max_attempts)
                    if job.status in FINAL:
                        return
                    del job
                await asyncio.sleep(self.watch_interval)
        except QueueError as exc:
            await abort(context, exc, "WatchSubmission")
