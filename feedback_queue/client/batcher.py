"""Automatic batching for AsyncClient: concurrent submits go out together, without linger.

Group commit: when nothing is in flight, a lone submit goes out at once as a unary `Submit`
(a single caller waits no longer than it would without batching). Submits that arrive while
calls are in flight wait in `pending`; the next call takes all of them (up to a batch's limits)
as one `SubmitBatch`, and at most `max_in_flight` calls are in flight at a time. Under load,
batches grow by themselves to what arrives during one round trip.

Each caller waits on a future of its own, with its own deadline:
- cancelled (or out of time) before its item was taken: the item is dropped, never sent;
- cancelled after: the caller gets CancelledError, the call goes on for the others (the item
  may be in Redis; its idempotency key makes a retry safe);
- a failure of the whole call: each caller gets its own copy of the exception;
- a refused item: its caller gets that item's exception; the others their results.
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from feedback_queue.client.chunking import framed
from feedback_queue.client.errors import FbqError
from feedback_queue.client.values import BatchLimits
from feedback_queue.v1 import queue_pb2 as pb

SendOne = Callable[[pb.SubmitRequest, float], Awaitable[pb.SubmitResponse]]
SendMany = Callable[
    [Sequence[pb.SubmitRequest], float], Awaitable[Sequence[pb.SubmitResponse | FbqError]]
]
Expired = Callable[[], FbqError]


@dataclass(eq=False)  # each item is itself (kept in a set)
class _Item:
    request: pb.SubmitRequest
    size: int
    deadline: float  # the loop's clock
    future: asyncio.Future[pb.SubmitResponse]


class Batcher:
    """Coalesces concurrent `submit` calls into SubmitBatch calls (see the module's doc)."""

    def __init__(
        self,
        send_one: SendOne,
        send_many: SendMany,
        expired: Expired,
        *,
        limits: BatchLimits,
        max_in_flight: int = 4,
    ) -> None:
        self._send_one = send_one
        self._send_many = send_many
        self._expired = expired
        self._limits = limits
        self._max_in_flight = max(1, max_in_flight)
        self._pending: deque[_Item] = deque()
        self._in_flight = 0
        self._scheduled = False  # a flush task is made and has not taken its items yet
        self._tasks: set[asyncio.Task[None]] = set()
        # Deadlines: one timer for the batcher, at the nearest deadline of the items not yet
        # answered, instead of one per submit (asyncio's timer heap compares in Python).
        self._waiting: set[_Item] = set()
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def in_flight(self) -> int:
        """Calls (unary or batch) in flight now."""
        return self._in_flight

    @property
    def pending(self) -> int:
        """Submits waiting for the next call (cancelled ones included until it is made)."""
        return len(self._pending)

    async def submit(self, request: pb.SubmitRequest, timeout: float) -> pb.SubmitResponse:
        """The answer for `request`, alone or in a batch; raises its FbqError."""
        if self._in_flight == 0 and not self._pending:
            return await self._alone(request, timeout)
        loop = asyncio.get_running_loop()
        item = _Item(
            request, framed(request.ByteSize()), loop.time() + timeout, loop.create_future()
        )
        self._pending.append(item)
        self._waiting.add(item)
        self._sweep_by(loop, item.deadline)
        self._kick()
        try:
            return await item.future  # a cancel here cancels the future: it is not sent
        except asyncio.CancelledError:
            if item.future.done() and not item.future.cancelled():
                item.future.exception()  # answered as we were cancelled: nobody else reads it
            raise
        finally:
            self._waiting.discard(item)

    def _sweep_by(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Have the deadline sweep run no later than `deadline`."""
        if self._sweep is not None:
            if self._sweep.when() <= deadline:
                return
            self._sweep.cancel()
        self._sweep = loop.call_at(deadline, self._expire_due)

    def _expire_due(self) -> None:
        """Callers whose deadline passed get DeadlineExceeded (an item still pending is then
        dropped unsent; one in flight has its answer ignored); then wait for the next one."""
        self._sweep = None
        loop = asyncio.get_running_loop()
        now, nearest = loop.time(), None
        for item in list(self._waiting):
            if item.future.done():
                continue
            if item.deadline <= now:
                item.future.set_exception(self._expired())
            elif nearest is None or item.deadline < nearest:
                nearest = item.deadline
        if nearest is not None:
            self._sweep_by(loop, nearest)

    async def _alone(self, request: pb.SubmitRequest, timeout: float) -> pb.SubmitResponse:
        self._in_flight += 1
        try:
            return await self._send_one(request, timeout)
        finally:
            self._in_flight -= 1
            self._kick()

    def _kick(self) -> None:
        """Start a call for what is pending, if a slot is free and none is about to start."""
        if self._scheduled or self._in_flight >= self._max_in_flight or not self._pending:
            return
        self._scheduled = True
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        try:
            self._scheduled = False
            items = self._take()
            self._kick()  # more pending than one call takes: the next call may start now
            if items:
                await self._send(items)
        finally:
            self._in_flight -= 1
            self._kick()

    def _take(self) -> list[_Item]:
        """The pending items one call carries, in arrival order; cancelled ones are dropped."""
        items: list[_Item] = []
        total = 0
        while self._pending:
            item = self._pending[0]
            if item.future.done():  # its caller gave up before it was sent
                self._pending.popleft()
                continue
            if items and (
                len(items) >= self._limits.max_items or total + item.size > self._limits.max_bytes
            ):
                break
            items.append(self._pending.popleft())
            total += item.size
        return items

    async def _send(self, items: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        timeout = max(max(item.deadline for item in items) - loop.time(), 0.0)
        try:
            if len(items) == 1:
                outcomes: Sequence[pb.SubmitResponse | FbqError] = [
                    await self._send_one(items[0].request, timeout)
                ]
            else:
                outcomes = await self._send_many([item.request for item in items], timeout)
        except asyncio.CancelledError:
            for item in items:
                item.future.cancel()
            raise
        except Exception as exc:  # the whole call failed: each caller gets its own copy
            for item in items:
                _settle(item, _copy(exc))
            return
        for item, outcome in zip(items, outcomes, strict=True):
            _settle(item, outcome)

    async def wait_idle(self) -> None:
        """Until every call started so far has ended (AsyncClient.close)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))


def _settle(item: _Item, outcome: pb.SubmitResponse | BaseException) -> None:
    if item.future.done():  # its caller was cancelled or timed out meanwhile
        return
    if isinstance(outcome, BaseException):
        item.future.set_exception(outcome)
    else:
        item.future.set_result(outcome)


def _copy(exc: Exception) -> Exception:
    """A fresh exception like `exc`, with its cause (the gRPC error), for one caller."""
    clone = copy.copy(exc)
    clone.__cause__ = exc.__cause__
    return clone
