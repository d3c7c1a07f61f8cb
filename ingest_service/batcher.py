"""Group commit for unary Submit: calls that arrive while a write is in flight share the next one.

One caller alone pays one round trip, as before; many concurrent callers share script calls,
so Redis sees few large writes instead of many small ones. A call is answered only after Redis
acknowledged the write that carried it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from feedback_queue.errors import QueueError
from feedback_queue.queue import NOBODY, EnqueueResult, Owner
from feedback_queue.sharded import QueueApi
from feedback_queue.v1 import queue_pb2 as pb

# submission, delay, owner, trace context (tracing.py; "" for none), the caller's answer
_Item = tuple[pb.Submission, float, Owner, str, "asyncio.Future[EnqueueResult]"]


@dataclass
class Batcher:
    queue: QueueApi
    max_batch: int = 256
    max_in_flight: int = 4
    _pending: list[_Item] = field(default_factory=list)
    _flushers: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def submit(
        self, submission: pb.Submission, delay: float, owner: Owner = NOBODY, trace: str = ""
    ) -> EnqueueResult:
        """Enqueue one submission with whatever else is waiting; raise its own error. `trace`
        is the caller's trace context, taken now: the write happens in another task."""
        future: asyncio.Future[EnqueueResult] = asyncio.get_running_loop().create_future()
        self._pending.append((submission, delay, owner, trace, future))
        if self._flushers < self.max_in_flight:
            self._flushers += 1
            task = asyncio.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                # One owner per write (each principal's submissions carry its name and its
                # idempotency scope): the first waiting call's, and every other of its calls.
                owner = self._pending[0][2]
                batch: list[_Item] = []
                rest: list[_Item] = []
                for item in self._pending:
                    mine = item[2] == owner and len(batch) < self.max_batch
                    (batch if mine else rest).append(item)
                self._pending = rest
                try:
                    # Never raises QueueError: each item gets its result or its own error.
                    results = await self.queue.enqueue_many(
                        [(s, d) for s, d, *_ in batch], owner, [t for _, _, _, t, _ in batch]
                    )
                except BaseException:  # cancelled at shutdown: the callers' calls end too
                    for *_, future in batch:
                        future.cancel()
                    raise
                for (*_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the caller went away; its submission is in Redis anyway
                        continue
                    if isinstance(result, QueueError):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushers -= 1
