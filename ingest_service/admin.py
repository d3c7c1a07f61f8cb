"""AdminService over the core: health, stats, listing, retry, delete, pause and resume, and the
fair share of the workers among fairness keys (sharing.py)."""

from __future__ import annotations

import logging

from feedback_queue import health, timing
from feedback_queue.errors import InvalidSubmission, QueueError
from feedback_queue.job import Status
from feedback_queue.redis_cpu import CpuSampler
from feedback_queue.rpc import Context, abort
from feedback_queue.sharded import QueueApi
from feedback_queue.timing import Histogram
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from ingest_service import sharing

log = logging.getLogger(__name__)

DEFAULT_PAGE = 50
MAX_PAGE = 500


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(self, queue: QueueApi, *, cpu_warning: float = health.CPU_WARNING) -> None:
        self.queue = queue
        self.cpu_warning = cpu_warning
        # Ingest lives long: each report's CPU reading is kept for the next to compare with.
        self.cpu = CpuSampler()

    async def GetRedisHealth(
        self, request: pb.GetRedisHealthRequest, context: Context
    ) -> pb.RedisHealth:
        report = await health.check(self.queue, self.cpu, cpu_warning=self.cpu_warning)
        return report.to_proto()

    async def GetQueueStats(
        self, request: pb.GetQueueStatsRequest, context: Context
    ) -> pb.QueueStats:
        try:
            return (await self.queue.stats()).to_proto()
        except QueueError as exc:
            await abort(context, exc, "GetQueueStats")

    async def GetTimings(self, request: pb.GetTimingsRequest, context: Context) -> pb.Timings:
        try:
            found = await self.queue.timings()
        except QueueError as exc:
            await abort(context, exc, "GetTimings")
        return pb.Timings(histograms=[histogram_proto(h) for h in found])

    async def ListSubmissions(
        self, request: pb.ListSubmissionsRequest, context: Context
    ) -> pb.ListSubmissionsResponse:
        try:
            if request.status not in {s.value for s in Status}:
                raise InvalidSubmission(
                    "status", "required: one of WAITING, ACTIVE, DELAYED, COMPLETED, FAILED"
                )
            if request.page_size > MAX_PAGE:
                raise InvalidSubmission("page_size", f"at most {MAX_PAGE}")
            page = await self.queue.list_by_status(
                Status(request.status), request.page_size or DEFAULT_PAGE, request.page_token
            )
        except QueueError as exc:
            await abort(context, exc, "ListSubmissions")
        return pb.ListSubmissionsResponse(
            submissions=[job.to_info(self.queue.max_attempts, abridged=True) for job in page.jobs],
            next_page_token=page.next_cursor,
            total=page.total,
        )

    async def RetrySubmission(
        self, request: pb.RetrySubmissionRequest, context: Context
    ) -> pb.RetrySubmissionResponse:
        try:
            if request.all_failed == bool(request.id):
                raise InvalidSubmission("id", "give either an id or all_failed=true, not both")
            if request.all_failed:
                retried = await self.queue.retry_all_failed()
            else:
                await self.queue.retry(request.id)
                retried = 1
        except QueueError as exc:
            await abort(context, exc, "RetrySubmission")
        log.info("RetrySubmission: %d sent back to waiting", retried)
        return pb.RetrySubmissionResponse(retried=retried)

    async def DeleteSubmission(
        self, request: pb.DeleteSubmissionRequest, context: Context
    ) -> pb.DeleteSubmissionResponse:
        try:
            await self.queue.delete(request.id)
        except QueueError as exc:
            await abort(context, exc, "DeleteSubmission")
        log.info("DeleteSubmission: %s deleted", request.id)
        return pb.DeleteSubmissionResponse()

    async def PauseQueue(self, request: pb.PauseQueueRequest, context: Context) -> pb.QueueState:
        try:
            await self.queue.pause()
        except QueueError as exc:
            await abort(context, exc, "PauseQueue")
        log.info("PauseQueue: queue %s paused", self.queue.name)
        return pb.QueueState(paused=True)

    async def ResumeQueue(self, request: pb.ResumeQueueRequest, context: Context) -> pb.QueueState:
        try:
            await self.queue.resume()
        except QueueError as exc:
            await abort(context, exc, "ResumeQueue")
        log.info("ResumeQueue: queue %s resumed", self.queue.name)
        return pb.QueueState(paused=False)

    async def GetFairShare(self, request: pb.GetFairShareRequest, context: Context) -> pb.FairShare:
        try:
            view = await self.queue.fair_share(sharing.top_of(request))
        except QueueError as exc:
            await abort(context, exc, "GetFairShare")
        return sharing.fair_share(view)

    async def SetKeyQuota(self, request: pb.SetKeyQuotaRequest, context: Context) -> pb.KeyQuota:
        try:
            change = sharing.QuotaChange.of(request)
            quota, custom = await self.queue.set_quota(
                change.key, change.weight, change.rate, change.max_active, change.reset
            )
        except QueueError as exc:
            await abort(context, exc, "SetKeyQuota")
        # The key is the caller's text: %r keeps it on one line whatever it holds.
        log.info(
            "SetKeyQuota: key %r now has weight %g, rate %g/s, max_active %d (%s)",
            change.key,
            quota.weight,
            quota.rate,
            quota.max_active,
            "its own" if custom else "the defaults",
        )
        return sharing.key_quota(change.key, quota, custom)


def histogram_proto(h: Histogram) -> pb.Histogram:
    return pb.Histogram(
        name=h.name,
        labels=dict(h.labels),
        bounds=list(timing.BOUNDS),
        counts=h.series.counts,
        sum=h.series.sum,
        count=h.series.count,
    )
