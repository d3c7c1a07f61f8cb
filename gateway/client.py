"""The gateway's only link to the queue: the ingest service's gRPC API, with a deadline on
every call. The gateway holds no Redis credentials."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from feedback_queue import tls, tracing
from feedback_queue.settings import TlsSettings
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc


@dataclass
class IngestClient:
    address: str
    deadline: float = 5.0
    token: str | None = field(default=None, repr=False)
    tls: TlsSettings = field(default_factory=TlsSettings)
    # The trace's client spans, when tracing is on (feedback_queue/tracing.py).
    traced: bool = False

    def __post_init__(self) -> None:
        self._metadata = (("authorization", f"Bearer {self.token}"),) if self.token else ()
        self._channel: grpc.aio.Channel | None = None

    @property
    def channel(self) -> grpc.aio.Channel:
        # Made on first use, inside the server's running event loop (a grpc.aio channel
        # belongs to the loop it was made in).
        if self._channel is None:
            spans = tracing.client_interceptors() if self.traced else []
            self._channel = tls.aio_channel(self.address, self.tls, interceptors=spans)
        return self._channel

    @property
    def admin(self) -> pb_grpc.AdminServiceAsyncStub:
        return pb_grpc.AdminServiceStub(self.channel)

    @property
    def submissions(self) -> pb_grpc.SubmissionServiceAsyncStub:
        return pb_grpc.SubmissionServiceStub(self.channel)

    @property
    def _call(self) -> dict[str, object]:
        return {"timeout": self.deadline, "metadata": self._metadata}

    async def redis_health(self) -> pb.RedisHealth:
        return await self.admin.GetRedisHealth(pb.GetRedisHealthRequest(), **self._call)  # type: ignore[arg-type]

    async def stats(self) -> pb.QueueStats:
        return await self.admin.GetQueueStats(pb.GetQueueStatsRequest(), **self._call)  # type: ignore[arg-type]

    async def list(
        self, status: int, page_size: int, page_token: str
    ) -> pb.ListSubmissionsResponse:
        request = pb.ListSubmissionsRequest(
            status=status,  # type: ignore[arg-type]
            page_size=page_size,
            page_token=page_token,
        )
        return await self.admin.ListSubmissions(request, **self._call)  # type: ignore[arg-type]

    async def get(self, job_id: str) -> pb.SubmissionInfo:
        request = pb.GetSubmissionRequest(id=job_id)
        return await self.submissions.GetSubmission(request, **self._call)  # type: ignore[arg-type]

    async def retry(self, job_id: str = "", all_failed: bool = False) -> int:
        request = pb.RetrySubmissionRequest(id=job_id, all_failed=all_failed)
        reply = await self.admin.RetrySubmission(request, **self._call)  # type: ignore[arg-type]
        return reply.retried

    async def delete(self, job_id: str) -> None:
        request = pb.DeleteSubmissionRequest(id=job_id)
        await self.admin.DeleteSubmission(request, **self._call)  # type: ignore[arg-type]

    async def cancel(self, request: pb.CancelSubmissionRequest) -> pb.CancelSubmissionResponse:
        return await self.submissions.CancelSubmission(request, **self._call)  # type: ignore[arg-type]

    async def pause(self) -> bool:
        reply = await self.admin.PauseQueue(pb.PauseQueueRequest(), **self._call)  # type: ignore[arg-type]
        return reply.paused

    async def resume(self) -> bool:
        reply = await self.admin.ResumeQueue(pb.ResumeQueueRequest(), **self._call)  # type: ignore[arg-type]
        return reply.paused

    async def timings(self) -> pb.Timings:
        return await self.admin.GetTimings(pb.GetTimingsRequest(), **self._call)  # type: ignore[arg-type]

    async def fair_share(self, top: int) -> pb.FairShare:
        request = pb.GetFairShareRequest(top=top)
        return await self.admin.GetFairShare(request, **self._call)  # type: ignore[arg-type]

    async def set_quota(self, key: str, values: dict[str, float | int], reset: bool) -> pb.KeyQuota:
        request = pb.SetKeyQuotaRequest(key=key, reset=reset, **values)  # type: ignore[arg-type]
        return await self.admin.SetKeyQuota(request, **self._call)  # type: ignore[arg-type]

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
