"""The write path: validate submissions and enqueue them, many per round trip.

The enqueue script (enqueue.lua) checks each submission's idempotency key, the waiting cap and
the submitter's rate, then writes the record, stamped with Redis's clock, and pushes the id into
its lane (its priority and fairness key, fairness.py), all in one atomic call. Ids are
drawn here, before the script runs, so a re-sent script finds its own jobs (`Enqueued.REPLAY`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import msgpack

from feedback_queue.errors import (
    IdCollision,
    KeyConflict,
    QueueError,
    QueueFull,
    QueueUnavailable,
    RateLimited,
)
from feedback_queue.fairness import assign_key
from feedback_queue.job import Status, new_ids
from feedback_queue.outcomes import Enqueued
from feedback_queue.queue.base import Arg, QueueBase
from feedback_queue.queue.values import NOBODY, EnqueueResult, Owner
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.validation import validate_delay, validate_submission

# Jobs per enqueue script call: long enough to amortise the round trip, short enough that one
# call never holds Redis for more than a few milliseconds.
ENQUEUE_CHUNK = 256
_ID_DRAWS = 3
_ENQUEUED = {int(outcome): outcome for outcome in Enqueued}
_STATUSES = {int(status): status for status in Status}
_NOT_YET = QueueError("not enqueued")


def pack_jobs(jobs: Sequence[tuple[str, bytes, str, str, int, str, str, str]]) -> bytes:
    """enqueue.lua's ARGV[6]: (id, payload, key, digest, delay ms, submitter, owner, trace
    context) per job.

    Every string as msgpack's raw type: Redis's cmsgpack does not read the bin types."""
    return cast(bytes, msgpack.packb(jobs, use_bin_type=False))


class _Pending(NamedTuple):
    position: int
    payload: bytes
    idempotency_key: str
    delay: float
    submitter_id: str
    trace: str


class Producing(QueueBase):
    async def enqueue(
        self, submission: pb.Submission, delay: float = 0.0, owner: Owner = NOBODY
    ) -> EnqueueResult:
        """Validate and durably enqueue one submission; raise on refusal."""
        result = (await self.enqueue_many([(submission, delay)], owner))[0]
        if isinstance(result, QueueError):
            raise result
        return result

    async def enqueue_many(
        self,
        items: Sequence[tuple[pb.Submission, float]],
        owner: Owner = NOBODY,
        traces: Sequence[str] = (),
    ) -> list[EnqueueResult | QueueError]:
        """Enqueue many (submission, delay) pairs of one `owner`; each gets its result or its
        own error. `traces`, when given, has each item's W3C traceparent ("" for none): kept
        with the job, outside its payload (an idempotent retry in another trace is the same
        submission), for the worker's span to continue (feedback_queue/tracing.py).

        One script call per chunk of ENQUEUE_CHUNK. Invalid items fail alone and are not sent.
        Redis failing at a chunk (down, out of memory) fails that chunk and the ones after it,
        which are not sent; what earlier chunks wrote keeps its result, so no caller is told
        "refused" about a submission that is in the queue. Never raises QueueError.
        """
        results, pending = self._validated(items, traces)
        for _ in range(_ID_DRAWS):
            collided: list[_Pending] = []
            for start in range(0, len(pending), ENQUEUE_CHUNK):
                chunk = pending[start : start + ENQUEUE_CHUNK]
                try:
                    outcomes = await self._enqueue_chunk(chunk, owner)
                except QueueError as exc:
                    for item in pending[start:]:
                        results[item.position] = exc
                    return results
                for item, outcome in zip(chunk, outcomes, strict=True):
                    if isinstance(outcome, IdCollision):
                        collided.append(item)
                    else:
                        results[item.position] = outcome
            pending = collided
            if not pending:
                break
        for item in pending:
            results[item.position] = QueueError("could not draw a free id; retry the submission")
        return results

    def _validated(
        self, items: Sequence[tuple[pb.Submission, float]], traces: Sequence[str]
    ) -> tuple[list[EnqueueResult | QueueError], list[_Pending]]:
        """Each item's error, or a placeholder for it and its serialized form to enqueue."""
        results: list[EnqueueResult | QueueError] = []
        pending: list[_Pending] = []
        for index, (submission, delay) in enumerate(items):
            try:
                validate_submission(submission, self.config.limits)
                validate_delay(delay)
                assign_key(submission, self.config.fairness)
            except QueueError as exc:
                results.append(exc)
                continue
            # A placeholder until the enqueue answers; every pending index is overwritten.
            results.append(_NOT_YET)
            payload = submission.SerializeToString(deterministic=True)
            trace = traces[index] if traces else ""
            pending.append(
                _Pending(
                    index,
                    payload,
                    submission.idempotency_key,
                    delay,
                    submission.submitter_id,
                    trace,
                )
            )
        return results, pending

    async def _enqueue_chunk(
        self, chunk: Sequence[_Pending], owner: Owner
    ) -> list[EnqueueResult | QueueError]:
        rate, owner_rate = self.config.submitter_rate, self.config.principal_rate
        args: list[Arg] = [
            self.now_arg(),
            int(self.config.idempotency_ttl * 1000),
            self.config.max_waiting,
            rate.limit if rate else 0,
            int(rate.period * 1000) if rate else 0,
        ]
        mark = self.id_mark
        jobs = [
            (
                mark + drawn[len(mark) :],
                payload,
                owner.idempotency_key(key),
                hashlib.blake2b(payload, digest_size=12).hexdigest() if key else "",
                # Rounded up: any positive delay is due after now, so the job starts DELAYED in
                # `delayed` (rounded down, a sub-millisecond delay would be due now).
                math.ceil(delay * 1000) if delay > 0 else 0,
                submitter_id,
                owner.name,
                trace,
            )
            for (_, payload, key, delay, submitter_id, trace), drawn in zip(
                chunk, new_ids(len(chunk)), strict=True
            )
        ]
        args.append(pack_jobs(jobs))
        args += [
            owner_rate.limit if owner_rate else 0,
            int(owner_rate.period * 1000) if owner_rate else 0,
        ]
        keys = self.enqueue_keys()
        if self.config.min_replicas_ack:
            raw = await self._replicated(keys, args)
        else:
            raw = await self._eval(self.scripts.enqueue, keys, args)
        return [
            self._enqueue_outcome(raw[i].decode(), int(raw[i + 1]), _ENQUEUED[int(raw[i + 2])])
            for i in range(0, len(raw), 3)
        ]

    def enqueue_keys(self) -> list[str]:
        """The KEYS layout of enqueue.lua."""
        k = self.keys
        return [
            k.delayed,
            k.idem,
            k.idem_expiry,
            k.stats,
            k.job_prefix,
            k.submitter_prefix,
            k.principal_prefix,
            *k.lanes_block(),
            k.cancelled,
        ]

    async def _replicated(self, keys: list[str], args: list[Arg]) -> Any:
        """The enqueue script, then WAIT on the same connection (WAIT counts the replicas that
        have every write of its own connection), in one round trip.

        Fewer replicas than FBQ_MIN_REPLICAS_ACK in time: the submissions are written but not
        yet safe from a failover, so the caller is told UNAVAILABLE and retries; with its
        idempotency key, the retry finds them instead of adding them again.
        """
        wanted, timeout = self.config.min_replicas_ack, self.config.replicas_ack_timeout

        async def enqueue_and_wait() -> Any:
            async with self.client.pipeline(transaction=False) as pipe:
                await self.scripts.enqueue(keys=keys, args=args, client=pipe)
                pipe.execute_command("WAIT", wanted, int(timeout * 1000))
                return await pipe.execute()

        raw, replicas = await self._call(enqueue_and_wait())
        if int(replicas) < wanted:
            raise QueueUnavailable(
                f"written, but {replicas} of the {wanted} replicas FBQ_MIN_REPLICAS_ACK asks "
                f"for confirmed it within {timeout:g}s: retry with the same idempotency key"
            )
        return raw

    def _enqueue_outcome(
        self, job_id: str, status: int, outcome: Enqueued
    ) -> EnqueueResult | QueueError:
        if outcome is Enqueued.CREATED:  # the hot path first: one lookup, no match
            return EnqueueResult(job_id, _STATUSES[status], duplicate=False)
        match outcome:
            case Enqueued.DUPLICATE | Enqueued.REPLAY:
                duplicate = outcome == Enqueued.DUPLICATE
                return EnqueueResult(job_id, Status(status), duplicate=duplicate)
            case Enqueued.KEY_CONFLICT:
                return KeyConflict(
                    "idempotency_key was already used with a different payload; use a new key "
                    "for new content"
                )
            case Enqueued.ID_TAKEN:
                return IdCollision(job_id)
            case Enqueued.RATE_LIMITED:
                wait = status / 1000
                return RateLimited(
                    f"submitter is over its rate of {self.config.submitter_rate} "
                    f"(FBQ_SUBMITTER_RATE); retry in {wait:.1f}s",
                    retry_after=wait,
                )
            case Enqueued.PRINCIPAL_LIMITED:
                wait = status / 1000
                return RateLimited(
                    f"this principal is over its rate of {self.config.principal_rate} "
                    f"(FBQ_PRINCIPAL_RATE); retry in {wait:.1f}s",
                    retry_after=wait,
                )
            case Enqueued.QUEUE_FULL:
                return QueueFull(
                    f"the queue holds its maximum of {self.config.max_waiting} waiting "
                    "submissions (FBQ_MAX_WAITING); retry later",
                    retry_after=1.0,
                )
