"""AsyncClient: the asyncio client of ingest (grpc.aio)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypedDict, TypeVar, Unpack

import grpc

from feedback_queue.client import channel as channels
from feedback_queue.client.batcher import Batcher
from feedback_queue.client.chunking import chunks, framed
from feedback_queue.client.errors import (
    FbqError,
    deadline_exceeded,
    ended,
    from_call,
    from_item,
    watch_ended,
)
from feedback_queue.client.retry import RetryPolicy, retrying
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


# Submissions one coalesced call carries at most (see AsyncClient).
AUTO_BATCH_ITEMS = 128


class AsyncOptions(TypedDict, total=False):
    """AsyncClient's options beside the target (see AsyncClient)."""

    timeout: float
    retry: RetryPolicy
    auto_batch: bool
    auto_batch_items: int
    max_in_flight: int
    limits: BatchLimits
    grpc_retries: bool
    channel_options: Sequence[channels.ChannelOption]


class AsyncClient:
    """Submit to, follow and steer a Feedback Queue through its ingest service.

    Every call has a deadline: `timeout` seconds (default 10), or the call's own `timeout=`;
    it covers the call's retries. Calls that failed `Unavailable` are tried again by gRPC
    (the published service config) and then by the client (`retry`), which also waits out a
    `Backpressure` whose `retry_after` fits the deadline. Every submit carries an idempotency
    key, so no retry makes a second job.

    With `auto_batch` (the default), concurrent `submit` calls are sent together as
    SubmitBatch calls of at most `auto_batch_items`, at most `max_in_flight` at a time (see
    batcher.py); a lone call goes out at once as a unary Submit. Small coalesced calls overlap:
    the client builds the next while ingest and Redis write this one (256 callers in one
    process: ~12,000/s with calls of up to 1,000, ~17,000/s with up to 128, on 2 cores).
    `submit_many` cuts its items into SubmitBatch calls by `limits`.

    `batcher` (None without `auto_batch`) tells how many submits wait and calls are in flight.
    Use it as `async with AsyncClient(...) as client:`, or call `close()`. The channel is made
    on first use, in the running event loop.
    """

    def __init__(
        self,
        address: str | Target | None = None,
        *,
        token: str | None = None,
        tls: TlsSettings | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        auto_batch: bool = True,
        auto_batch_items: int = AUTO_BATCH_ITEMS,
        max_in_flight: int = 4,
        limits: BatchLimits | None = None,
        grpc_retries: bool = True,
        channel_options: Sequence[channels.ChannelOption] = (),
    ) -> None:
        self.target = make_target(address, token, tls)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.limits = limits or BatchLimits()
        self.max_in_flight = max(1, max_in_flight)
        self._options = channels.options(grpc_retries=grpc_retries, extra=channel_options)
        self._channel: grpc.aio.Channel | None = None
        self._submissions: pb_grpc.SubmissionServiceAsyncStub | None = None
        self._admin: pb_grpc.AdminServiceAsyncStub | None = None
        self.batcher = (
            Batcher(
                self._submit_once,
                self._submit_batch,
                lambda: deadline_exceeded(self.target),
                limits=dataclasses.replace(
                    self.limits, max_items=max(1, min(auto_batch_items, self.limits.max_items))
                ),
                max_in_flight=self.max_in_flight,
            )
            if auto_batch
            else None
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        address: str | None = None,
        token_file: str | Path | None = None,
        hints: Hints | None = None,
        **options: Unpack[AsyncOptions],
    ) -> AsyncClient:
        """A client of the ingest the environment names, as `fbq` finds it (target.py); the
        batch limits are FBQ_MAX_BATCH and FBQ_MAX_BATCH_BYTES."""
        settings = Settings.from_env(os.environ if environ is None else environ)
        target = resolve(settings, address=address, token_file=token_file, hints=hints)
        options.setdefault("limits", BatchLimits.from_settings(settings))
        return cls(target, **options)

    # -- the channel ----------------------------------------------------------------------------

    @property
    def channel(self) -> grpc.aio.Channel:
        """The channel (for calls the client does not wrap, like SubmitStream)."""
        if self._channel is None:
            self._channel = channels.aio_channel(self.target, self._options)
            self._submissions = pb_grpc.SubmissionServiceStub(self._channel)
            self._admin = pb_grpc.AdminServiceStub(self._channel)
        return self._channel

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata every call sends (the token)."""
        return self.target.metadata

    def _stubs(self) -> tuple[pb_grpc.SubmissionServiceAsyncStub, pb_grpc.AdminServiceAsyncStub]:
        _ = self.channel
        assert self._submissions is not None
        assert self._admin is not None
        return self._submissions, self._admin

    async def close(self) -> None:
        """Let the calls under way end, then close the channel."""
        if self.batcher is not None:
            await self.batcher.wait_idle()
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- calls ----------------------------------------------------------------------------------

    async def _unary(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        timeout: float,
    ) -> Resp:
        try:
            return await method(request, timeout=timeout, metadata=self.metadata)
        except grpc.aio.AioRpcError as exc:
            raise from_call(exc, self.target) from exc

    async def _call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        timeout: float | None,
        *,
        retry: bool = True,
    ) -> Resp:
        """One unary call with the deadline and, when `retry`, the client's retries."""
        policy = self.retry if retry else RetryPolicy(attempts=1)
        budget = self.timeout if timeout is None else timeout
        return await retrying(policy, budget, lambda left: self._unary(method, request, left))

    async def _submit_once(self, request: pb.SubmitRequest, timeout: float) -> pb.SubmitResponse:
        return await self._unary(self._stubs()[0].Submit, request, timeout)

    async def _submit_batch(
        self, requests: Sequence[pb.SubmitRequest], timeout: float
    ) -> list[pb.SubmitResponse | FbqError]:
        batch = pb.SubmitBatchRequest(requests=requests)
        reply = await self._unary(self._stubs()[0].SubmitBatch, batch, timeout)
        if len(reply.outcomes) != len(requests):
            raise FbqError(
                f"ingest at {self.target.address} answered {len(reply.outcomes)} outcomes for "
                f"{len(requests)} submissions",
                code=grpc.StatusCode.INTERNAL,
            )
        return [
            outcome.accepted
            if outcome.HasField("accepted")
            else from_item(outcome.error, self.target)
            for outcome in reply.outcomes
        ]

    # -- SubmissionService ----------------------------------------------------------------------

    async def submit(
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
        """Submit one piece of work (text and fields, or a Submission); `delay` in seconds.

        Without `idempotency_key` a fresh one is made. Raises an FbqError subclass.
        """
        submission = as_submission(
            content,
            submitter_id,
            kind=kind,
            instructions=instructions,
            metadata=metadata,
            idempotency_key=idempotency_key,
            delay=delay,
        )
        request = submission.request()
        send = self._submit_once if self.batcher is None else self.batcher.submit
        budget = self.timeout if timeout is None else timeout
        reply = await retrying(self.retry, budget, lambda left: send(request, left))
        return Submitted.of(reply, submission.idempotency_key)

    async def submit_many(
        self, items: Iterable[Submission], *, timeout: float | None = None
    ) -> list[Submitted | SubmitFailed]:
        """Submit many, in SubmitBatch calls cut by `limits`, up to `max_in_flight` at a time.

        Answers one outcome per item, in input order: Submitted, or SubmitFailed for an item
        ingest refused. A failure of a whole call (after the retries; `timeout` is each call's)
        raises, and the calls not yet made are not made: submitting the same Submission objects
        again is safe (those already in get duplicate=True).
        """
        submissions = list(items)
        requests = [s.request() for s in submissions]
        sizes = [framed(r.ByteSize()) for r in requests]
        results: list[Submitted | SubmitFailed | None] = [None] * len(requests)
        budget = self.timeout if timeout is None else timeout
        slots = asyncio.Semaphore(self.max_in_flight)

        async def send(indexes: range) -> None:
            todo = list(indexes)
            refused: FbqError | None = None  # what an attempt raised to send items again

            async def attempt(left: float) -> None:
                nonlocal todo, refused
                refused = None
                outcomes = await self._submit_batch([requests[i] for i in todo], left)
                todo = record(todo, outcomes, submissions, results)
                if todo:  # Redis failed mid-batch: send those again, within the policy
                    refused = error_of(results[todo[0]])
                    raise refused

            async with slots:
                try:
                    await retrying(self.retry, budget, attempt)
                except FbqError as error:
                    if error is not refused:
                        raise  # the whole call failed; else those items stay SubmitFailed

        ranges = chunks(sizes, self.limits.max_items, self.limits.max_bytes)
        tasks = [asyncio.create_task(send(indexes)) for indexes in ranges]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [r for r in results if r is not None]

    async def get(self, id: str, *, timeout: float | None = None) -> SubmissionInfo:
        """Everything known about one submission; NotFound when there is none."""
        request = pb.GetSubmissionRequest(id=id)
        return await self._call(self._stubs()[0].GetSubmission, request, timeout)

    async def watch(
        self, id: str, *, timeout: float | None = None
    ) -> AsyncIterator[SubmissionInfo]:
        """The submission's state now, then each change (progress reports of its running attempt
        included), until COMPLETED, FAILED or CANCELLED.

        The first state must come within the client's timeout; after that the watch lasts as
        long as the work (or `timeout` seconds in all). A watch that breaks (ingest restarted)
        is made again within the retry policy; a state is not repeated.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        request = pb.WatchSubmissionRequest(id=id)
        last: SubmissionInfo | None = None
        tries = 0
        while True:
            left = None if deadline is None else max(deadline - loop.time(), 0.0)
            call = self._stubs()[0].WatchSubmission(request, timeout=left, metadata=self.metadata)
            try:
                async for info in _with_first_deadline(call, self.timeout, self.target):
                    tries = 0
                    if info != last:
                        last = info
                        yield info
                    if info.status in FINAL:
                        return
            except grpc.aio.AioRpcError as exc:
                error: FbqError = from_call(exc, self.target)
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED and deadline is not None:
                    raise deadline_exceeded(
                        self.target, f"submission {id} was not final within {timeout:g}s"
                    ) from exc
            else:
                # The stream ended before a final state (ingest shut down): watch again.
                error = watch_ended(self.target)
            finally:
                call.cancel()
            tries += 1
            left = float("inf") if deadline is None else deadline - loop.time()
            wait = self.retry.next_wait(error, tries, left)
            if wait is None:
                raise error
            await asyncio.sleep(wait)

    async def wait(self, id: str, *, timeout: float | None = None) -> SubmissionInfo:
        """Until the submission is COMPLETED (answers its info: `.result`), FAILED (raises
        ProcessingFailed, with the info) or CANCELLED (raises SubmissionCancelled, a
        ProcessingFailed); DeadlineExceeded after `timeout` seconds."""
        final: SubmissionInfo | None = None
        async for info in self.watch(id, timeout=timeout):
            final = info
        assert final is not None
        if error := ended(final):
            raise error
        return final

    async def cancel(self, id: str, *, timeout: float | None = None) -> bool:
        """Cancel one submission (a producer: one of its own). True when this call cancelled
        it, False when it was cancelled already. WAITING and DELAYED ones never run; an ACTIVE
        one's outcome will not count and its processor is told to stop. Conflict (reason
        NOT_CANCELLABLE) when it is COMPLETED or FAILED; retried through outages (a cancel is
        replay-safe)."""
        request = pb.CancelSubmissionRequest(id=id)
        reply = await self._call(self._stubs()[0].CancelSubmission, request, timeout)
        return not reply.already

    async def cancel_matching(
        self,
        *,
        submitter_id: str = "",
        fairness_key: str = "",
        statuses: Sequence[pb.Status.ValueType] = (),
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> int:
        """Cancel every WAITING or DELAYED submission of `submitter_id` and/or
        `fairness_key` (in `statuses`: default both), operators and admins only; how many (a
        dry run counts them and cancels nothing)."""
        request = cancel_request(submitter_id, fairness_key, statuses, dry_run)
        reply = await self._call(self._stubs()[0].CancelSubmission, request, timeout)
        return reply.matched

    # -- AdminService ---------------------------------------------------------------------------

    async def health(self, *, timeout: float | None = None) -> pb.RedisHealth:
        """The redis-health report."""
        return await self._call(
            self._stubs()[1].GetRedisHealth, pb.GetRedisHealthRequest(), timeout
        )

    async def stats(self, *, timeout: float | None = None) -> pb.QueueStats:
        """The queue's counts and counters."""
        return await self._call(self._stubs()[1].GetQueueStats, pb.GetQueueStatsRequest(), timeout)

    async def list_submissions(
        self,
        status: pb.Status.ValueType,
        *,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> pb.ListSubmissionsResponse:
        """One page of the submissions in `status` (`next_page_token` for the next)."""
        request = pb.ListSubmissionsRequest(
            status=status, page_size=page_size, page_token=page_token
        )
        return await self._call(self._stubs()[1].ListSubmissions, request, timeout)

    async def retry_failed(self, id: str | None = None, *, timeout: float | None = None) -> int:
        """Run a FAILED submission again, or (no id) every FAILED one; how many. Not retried
        by the client: a second try would find the first's work done (Conflict)."""
        request = (
            pb.RetrySubmissionRequest(id=id)
            if id is not None
            else pb.RetrySubmissionRequest(all_failed=True)
        )
        method = self._stubs()[1].RetrySubmission
        reply = await self._call(method, request, timeout, retry=False)
        return reply.retried

    async def delete(self, id: str, *, timeout: float | None = None) -> None:
        """Remove a submission that is not ACTIVE. Not retried by the client (NotFound)."""
        request = pb.DeleteSubmissionRequest(id=id)
        await self._call(self._stubs()[1].DeleteSubmission, request, timeout, retry=False)

    async def pause(self, *, timeout: float | None = None) -> bool:
        """Workers take no new work (within a second); answers whether paused."""
        state = await self._call(self._stubs()[1].PauseQueue, pb.PauseQueueRequest(), timeout)
        return state.paused

    async def resume(self, *, timeout: float | None = None) -> bool:
        """Workers take work again; answers whether paused."""
        state = await self._call(self._stubs()[1].ResumeQueue, pb.ResumeQueueRequest(), timeout)
        return state.paused

    async def fair_share(self, top: int = 10, *, timeout: float | None = None) -> pb.FairShare:
        """The `top` fairness keys with the most waiting work (1-1000), the rest summed in
        `other`, the waiting count per priority, the default quota and every key's own."""
        request = pb.GetFairShareRequest(top=top)
        return await self._call(self._stubs()[1].GetFairShare, request, timeout)

    async def set_quota(
        self,
        key: str,
        *,
        weight: float | None = None,
        rate: float | None = None,
        max_active: int | None = None,
        reset: bool = False,
        timeout: float | None = None,
    ) -> pb.KeyQuota:
        """Change `key`'s weight, rate (starts/s, 0: no limit) or max_active (0: no limit);
        what is not given keeps its current value. `reset` drops the key's own quota (alone).
        Answers the quota now in force; InvalidArgument names a bad value's field."""
        request = quota_request(key, weight, rate, max_active, reset)
        return await self._call(self._stubs()[1].SetKeyQuota, request, timeout)


async def _with_first_deadline(
    call: AsyncIterable[SubmissionInfo], first: float, target: Target
) -> AsyncIterator[SubmissionInfo]:
    """The call's messages; the first must come within `first` seconds."""
    iterator = aiter(call)
    try:
        async with asyncio.timeout(first):
            info = await anext(iterator)
    except StopAsyncIteration:
        return
    except TimeoutError:
        raise deadline_exceeded(target) from None
    yield info
    async for info in iterator:
        yield info
