"""Client: the blocking client of ingest (sync grpc), for scripts and threads.

The same calls, deadlines, retries and errors as AsyncClient. No automatic batching (one
thread waits for one call); `submit_many` sends its SubmitBatch calls one after another.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict, TypeVar, Unpack, cast

import grpc

from feedback_queue.client import channel as channels
from feedback_queue.client.chunking import chunks, framed
from feedback_queue.client.errors import (
    FailedCall,
    FbqError,
    deadline_exceeded,
    ended,
    from_call,
    from_item,
    watch_ended,
)
from feedback_queue.client.retry import RetryPolicy, retrying_sync
from feedback_queue.client.target import DEFAULT_TIMEOUT, Hints, Target, make_target, resolve
from feedback_queue.client.values import (
    FINAL,
    BatchLimits,
    Submission,
    SubmissionInfo,
    SubmitFailed,
    Submitted,
    as_submission,
    cancel_request,
    error_of,
    quota_request,
    record,
)
from feedback_queue.settings import Settings, TlsSettings
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class SyncOptions(TypedDict, total=False):
    """Client's options beside the target (see Client)."""

    timeout: float
    retry: RetryPolicy
    limits: BatchLimits
    grpc_retries: bool
    channel_options: Sequence[channels.ChannelOption]


class Client:
    """The blocking twin of AsyncClient (see there); `with Client(...) as client:`."""

    def __init__(
        self,
        address: str | Target | None = None,
        *,
        token: str | None = None,
        tls: TlsSettings | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        limits: BatchLimits | None = None,
        grpc_retries: bool = True,
        channel_options: Sequence[channels.ChannelOption] = (),
    ) -> None:
        self.target = make_target(address, token, tls)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.limits = limits or BatchLimits()
        options = channels.options(grpc_retries=grpc_retries, extra=channel_options)
        self.channel = channels.sync_channel(self.target, options)
        self._submissions = pb_grpc.SubmissionServiceStub(self.channel)
        self._admin = pb_grpc.AdminServiceStub(self.channel)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        address: str | None = None,
        token_file: str | Path | None = None,
        hints: Hints | None = None,
        **options: Unpack[SyncOptions],
    ) -> Client:
        """A client of the ingest the environment names (see AsyncClient.from_env)."""
        settings = Settings.from_env(os.environ if environ is None else environ)
        target = resolve(settings, address=address, token_file=token_file, hints=hints)
        options.setdefault("limits", BatchLimits.from_settings(settings))
        return cls(target, **options)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self.target.metadata

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- calls ----------------------------------------------------------------------------------

    def _unary(
        self, method: grpc.UnaryUnaryMultiCallable[Req, Resp], request: Req, timeout: float
    ) -> Resp:
        try:
            return method(request, timeout=timeout, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise from_call(cast(FailedCall, exc), self.target) from exc

    def _call(
        self,
        method: grpc.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        timeout: float | None,
        *,
        retry: bool = True,
    ) -> Resp:
        policy = self.retry if retry else RetryPolicy(attempts=1)
        budget = self.timeout if timeout is None else timeout
        return retrying_sync(policy, budget, lambda left: self._unary(method, request, left))

    def _submit_batch(
        self, requests: Sequence[pb.SubmitRequest], timeout: float
    ) -> list[pb.SubmitResponse | FbqError]:
        batch = pb.SubmitBatchRequest(requests=requests)
        reply = self._unary(self._submissions.SubmitBatch, batch, timeout)
        if len(reply.outcomes) != len(requests):
            raise FbqError(
                f"ingest at {self.target.address} answered {len(reply.outcomes)} outcomes for "
                f"{len(requests)} submissions",
                code=grpc.StatusCode.INTERNAL,
            )
        return [
            o.accepted if o.HasField("accepted") else from_item(o.error, self.target)
            for o in reply.outcomes
        ]

    # -- SubmissionService ----------------------------------------------------------------------

    def submit(
        self,
        content: str | Submission,
        submitter_id: str | None = None,
        *,
        kind: str = "",
        instructions: str = "",
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        delay: float | None = None,
        timeout: float | None = None,
    ) -> Submitted:
        """Submit one piece of work (see AsyncClient.submit)."""
        submission = as_submission(
            content,
            submitter_id,
            kind=kind,
            instructions=instructions,
            metadata=metadata,
            idempotency_key=idempotency_key,
            delay=delay,
        )
        reply = self._call(self._submissions.Submit, submission.request(), timeout)
        return Submitted.of(reply, submission.idempotency_key)

    def submit_many(
        self, items: Iterable[Submission], *, timeout: float | None = None
    ) -> list[Submitted | SubmitFailed]:
        """Submit many in SubmitBatch calls, one after another (see AsyncClient.submit_many)."""
        submissions = list(items)
        requests = [s.request() for s in submissions]
        sizes = [framed(r.ByteSize()) for r in requests]
        budget = self.timeout if timeout is None else timeout
        results: list[Submitted | SubmitFailed | None] = [None] * len(requests)
        for indexes in chunks(sizes, self.limits.max_items, self.limits.max_bytes):
            todo = list(indexes)
            refused: FbqError | None = None  # what an attempt raised to send items again

            def attempt(left: float) -> None:
                nonlocal todo, refused
                refused = None
                outcomes = self._submit_batch([requests[i] for i in todo], left)
                todo = record(todo, outcomes, submissions, results)
                if todo:  # Redis failed mid-batch: send those again, within the policy
                    refused = error_of(results[todo[0]])
                    raise refused

            try:
                retrying_sync(self.retry, budget, attempt)
            except FbqError as error:
                if error is not refused:
                    raise  # the whole call failed; else those items stay SubmitFailed
        return [r for r in results if r is not None]

    def get(self, id: str, *, timeout: float | None = None) -> SubmissionInfo:
        """Everything known about one submission; NotFound when there is none."""
        return self._call(self._submissions.GetSubmission, pb.GetSubmissionRequest(id=id), timeout)

    def watch(
        self, id: str, *, timeout: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> Iterator[SubmissionInfo]:
        """The state now, then each change, until COMPLETED, FAILED or CANCELLED (see
        AsyncClient.watch; here `timeout` bounds the whole watch, the first state included)."""
        deadline = None if timeout is None else clock() + timeout
        request = pb.WatchSubmissionRequest(id=id)
        last: SubmissionInfo | None = None
        tries = 0
        while True:
            left = None if deadline is None else max(deadline - clock(), 0.0)
            call: Any = self._submissions.WatchSubmission(
                request, timeout=left, metadata=self.metadata
            )
            try:
                for info in call:
                    tries = 0
                    if info != last:
                        last = info
                        yield info
                    if info.status in FINAL:
                        return
                error: FbqError = watch_ended(self.target)
            except grpc.RpcError as exc:
                failed = cast(FailedCall, exc)
                if failed.code() == grpc.StatusCode.DEADLINE_EXCEEDED and deadline is not None:
                    raise deadline_exceeded(
                        self.target, f"submission {id} was not final within {timeout:g}s"
                    ) from exc
                error = from_call(failed, self.target)
            finally:
                call.cancel()
            tries += 1
            budget = float("inf") if deadline is None else deadline - clock()
            wait = self.retry.next_wait(error, tries, budget)
            if wait is None:
                raise error
            time.sleep(wait)

    def wait(self, id: str, *, timeout: float | None = None) -> SubmissionInfo:
        """Until COMPLETED (its info), FAILED (raises ProcessingFailed) or CANCELLED (raises
        SubmissionCancelled); see AsyncClient."""
        final: SubmissionInfo | None = None
        for info in self.watch(id, timeout=timeout):
            final = info
        assert final is not None
        if error := ended(final):
            raise error
        return final

    def cancel(self, id: str, *, timeout: float | None = None) -> bool:
        """See AsyncClient.cancel."""
        reply = self._call(
            self._submissions.CancelSubmission, pb.CancelSubmissionRequest(id=id), timeout
        )
        return not reply.already

    def cancel_matching(
        self,
        *,
        submitter_id: str = "",
        fairness_key: str = "",
        statuses: Sequence[pb.Status.ValueType] = (),
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> int:
        """See AsyncClient.cancel_matching."""
        request = cancel_request(submitter_id, fairness_key, statuses, dry_run)
        return self._call(self._submissions.CancelSubmission, request, timeout).matched

    # -- AdminService ---------------------------------------------------------------------------

    def health(self, *, timeout: float | None = None) -> pb.RedisHealth:
        return self._call(self._admin.GetRedisHealth, pb.GetRedisHealthRequest(), timeout)

    def stats(self, *, timeout: float | None = None) -> pb.QueueStats:
        return self._call(self._admin.GetQueueStats, pb.GetQueueStatsRequest(), timeout)

    def list_submissions(
        self,
        status: pb.Status.ValueType,
        *,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> pb.ListSubmissionsResponse:
        request = pb.ListSubmissionsRequest(
            status=status, page_size=page_size, page_token=page_token
        )
        return self._call(self._admin.ListSubmissions, request, timeout)

    def retry_failed(self, id: str | None = None, *, timeout: float | None = None) -> int:
        request = (
            pb.RetrySubmissionRequest(id=id)
            if id is not None
            else pb.RetrySubmissionRequest(all_failed=True)
        )
        return self._call(self._admin.RetrySubmission, request, timeout, retry=False).retried

    def delete(self, id: str, *, timeout: float | None = None) -> None:
        request = pb.DeleteSubmissionRequest(id=id)
        self._call(self._admin.DeleteSubmission, request, timeout, retry=False)

    def pause(self, *, timeout: float | None = None) -> bool:
        return self._call(self._admin.PauseQueue, pb.PauseQueueRequest(), timeout).paused

    def resume(self, *, timeout: float | None = None) -> bool:
        return self._call(self._admin.ResumeQueue, pb.ResumeQueueRequest(), timeout).paused

    def fair_share(self, top: int = 10, *, timeout: float | None = None) -> pb.FairShare:
        """See AsyncClient.fair_share."""
        return self._call(self._admin.GetFairShare, pb.GetFairShareRequest(top=top), timeout)

    def set_quota(
        self,
        key: str,
        *,
        weight: float | None = None,
        rate: float | None = None,
        max_active: int | None = None,
        reset: bool = False,
        timeout: float | None = None,
    ) -> pb.KeyQuota:
        """See AsyncClient.set_quota."""
        request = quota_request(key, weight, rate, max_active, reset)
        return self._call(self._admin.SetKeyQuota, request, timeout)
