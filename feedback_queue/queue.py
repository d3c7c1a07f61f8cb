"""The queue API over Redis: the only module that talks to Redis.

Life of a job (DESIGN.md §3): `enqueue` writes its record and LPUSHes its id to `waiting`;
`reserve` moves ids into the worker's own processing list (the take script for a backlog,
BLMOVE when idle) and marks them ACTIVE; `ack` completes them, `fail` backs off into `delayed` or
dead-letters into `failed`. `promote_due` brings due delayed jobs back, `reap` returns the
processing lists of workers whose heartbeat stopped. Every clock reading comes from `clock`, so
tests age heartbeats and backoffs without sleeping.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypedDict

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from feedback_queue.backoff import Backoff
from feedback_queue.connection import translated
from feedback_queue.errors import (
    Conflict,
    IdCollision,
    InvalidSubmission,
    NotFound,
    QueueError,
    QueueFull,
    QueueUnavailable,
    RateLimited,
)
from feedback_queue.job import Job, Status, new_id
from feedback_queue.keys import Keys
from feedback_queue.record import encode_new
from feedback_queue.scripts import Scripts
from feedback_queue.settings import DEFAULT_QUEUE, Rate, Settings
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.validation import Limits, validate_delay, validate_id, validate_submission

# Jobs per enqueue script call: long enough to amortise the round trip, short enough that one
# call never holds Redis for more than a few milliseconds.
ENQUEUE_CHUNK = 256
MAX_ERROR_CHARS = 2000
_ID_DRAWS = 3


# What redis-py accepts as a script argument.
Arg = bytes | str | int | float


class _Pending(NamedTuple):
    position: int
    payload: bytes
    idempotency_key: str
    delay: float
    submitter_id: str


@dataclass(frozen=True)
class EnqueueResult:
    id: str
    status: Status
    duplicate: bool


@dataclass(frozen=True)
class Taken:
    """What a take or wait found: jobs, or why there are none."""

    jobs: list[Job]
    paused: bool = False
    # Seconds until the global rate limit allows another start (0: not limited).
    wait: float = 0.0


@dataclass(frozen=True)
class Failure:
    """A failed attempt: the job as reserved, what went wrong, and whether retrying can help."""

    job: Job
    error: str
    permanent: bool = False
    # At least this long before the next attempt (e.g. an HTTP Retry-After), in seconds.
    retry_after: float = 0.0


@dataclass(frozen=True)
class QueueStats:
    waiting: int = 0
    active: int = 0
    delayed: int = 0
    completed: int = 0
    failed: int = 0
    workers: int = 0
    paused: bool = False
    enqueued_total: int = 0
    failed_total: int = 0
    retried_total: int = 0
    recovered_total: int = 0

    def to_proto(self) -> pb.QueueStats:
        return pb.QueueStats(
            waiting=self.waiting,
            active=self.active,
            delayed=self.delayed,
            completed=self.completed,
            failed=self.failed,
            workers=self.workers,
            paused=self.paused,
            enqueued_total=self.enqueued_total,
            failed_total=self.failed_total,
            retried_total=self.retried_total,
            recovered_total=self.recovered_total,
        )


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    next_cursor: str
    total: int

    @classmethod
    def of(cls, jobs: list[Job], offset: int, limit: int, total: int) -> Page:
        """The page at `offset`; its cursor leads to the next one, if there is more."""
        more = offset + limit < total
        return cls(jobs, str(offset + limit) if more else "", total)


def page_window(cursor: str, limit: int) -> tuple[int, int]:
    """Offset and size of the page a listing cursor (from `Page.next_cursor`) asks for."""
    if cursor and not cursor.isdigit():
        raise InvalidSubmission("page_token", "not a token from a previous page")
    return int(cursor or 0), max(1, min(limit, 500))


@dataclass(frozen=True)
class ServerInfo:
    """INFO of the Redis server and the round trip of one PING."""

    info: dict[str, object]
    latency_ms: float


class QueueOptions(TypedDict):
    """What `Settings` configure of a queue, whatever keeps its data (see `queue_options`)."""

    name: str
    max_attempts: int
    backoff: Backoff
    retention: float
    idempotency_ttl: float
    max_waiting: int
    submitter_rate: Rate | None
    rate_limit: Rate | None
    heartbeat_grace: float
    limits: Limits
    min_replicas_ack: int
    replicas_ack_timeout: float


def queue_options(settings: Settings) -> QueueOptions:
    """The queue fields `settings` configure: shared by `Queue` and the in-memory fallback."""
    return QueueOptions(
        name=settings.queue,
        max_attempts=settings.max_attempts,
        backoff=Backoff(settings.backoff_base, settings.backoff_max),
        retention=settings.retention,
        idempotency_ttl=settings.idempotency_ttl,
        max_waiting=settings.max_waiting,
        submitter_rate=settings.submitter_rate,
        rate_limit=settings.rate_limit,
        heartbeat_grace=settings.heartbeat_grace,
        limits=Limits(settings.max_content_bytes, settings.kinds),
        min_replicas_ack=settings.min_replicas_ack,
        replicas_ack_timeout=settings.replicas_ack_timeout,
    )


@dataclass
class Queue:
    """One named queue on one Redis client."""

    client: Redis
    name: str = DEFAULT_QUEUE
    address: str = "redis"
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    retention: float = 7 * 86400.0
    idempotency_ttl: float = 86400.0
    max_waiting: int = 0
    submitter_rate: Rate | None = None
    rate_limit: Rate | None = None
    heartbeat_grace: float = 15.0
    limits: Limits = field(default_factory=Limits)
    # One of a sharded queue's shards starts its ids with this character (sharded.py).
    id_mark: str = ""
    # Acknowledge an enqueue only once this many replicas have it (WAIT); see _replicated.
    min_replicas_ack: int = 0
    replicas_ack_timeout: float = 1.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.keys = Keys(self.name)
        self.scripts = Scripts.register(self.client)

    @classmethod
    def from_settings(cls, settings: Settings, client: Redis) -> Queue:
        """A queue configured as `settings` says."""
        return cls(client, address=settings.redis.address, **queue_options(settings))

    async def close(self) -> None:
        """Close the Redis client (its connection pool); the queue is unusable afterwards."""
        await self.client.aclose()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- producing ----------------------------------------------------------------------------

    async def enqueue(self, submission: pb.Submission, delay: float = 0.0) -> EnqueueResult:
        """Validate and durably enqueue one submission; raise on refusal."""
        result = (await self.enqueue_many([(submission, delay)]))[0]
        if isinstance(result, QueueError):
            raise result
        return result

    async def enqueue_many(
        self, items: Sequence[tuple[pb.Submission, float]]
    ) -> list[EnqueueResult | QueueError]:
        """Enqueue many (submission, delay) pairs; each gets its result or its own error.

        One script call per chunk of ENQUEUE_CHUNK. Invalid items fail alone and are not sent.
        """
        results, pending = self._validated(items)
        for _ in range(_ID_DRAWS):
            collided: list[_Pending] = []
            for start in range(0, len(pending), ENQUEUE_CHUNK):
                chunk = pending[start : start + ENQUEUE_CHUNK]
                for item, outcome in zip(chunk, await self._enqueue_chunk(chunk), strict=True):
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
        self, items: Sequence[tuple[pb.Submission, float]]
    ) -> tuple[list[EnqueueResult | QueueError], list[_Pending]]:
        """Each item's error, or a placeholder for it and its serialized form to enqueue."""
        results: list[EnqueueResult | QueueError] = []
        pending: list[_Pending] = []
        for index, (submission, delay) in enumerate(items):
            try:
                validate_submission(submission, self.limits)
                validate_delay(delay)
            except QueueError as exc:
                results.append(exc)
                continue
            # A placeholder until the enqueue answers; every pending index is overwritten.
            results.append(QueueError("not enqueued"))
            payload = submission.SerializeToString(deterministic=True)
            pending.append(
                _Pending(index, payload, submission.idempotency_key, delay, submission.submitter_id)
            )
        return results, pending

    async def _enqueue_chunk(self, chunk: Sequence[_Pending]) -> list[EnqueueResult | QueueError]:
        now = self.now_ms()
        rate = self.submitter_rate
        args: list[Arg] = [
            now,
            int(self.idempotency_ttl * 1000),
            self.max_waiting,
            rate.limit if rate else 0,
            int(rate.period * 1000) if rate else 0,
        ]
        for _, payload, key, delay, submitter_id in chunk:
            run_at = now + int(delay * 1000) if delay > 0 else 0
            args += [
                self.id_mark + new_id()[len(self.id_mark) :],
                encode_new(payload, Status.DELAYED if run_at else Status.WAITING, now, run_at),
                key,
                hashlib.blake2b(payload, digest_size=12).hexdigest() if key else "",
                run_at,
                submitter_id,
            ]
        k = self.keys
        keys = [k.waiting, k.delayed, k.idem, k.idem_expiry, k.stats, k.job_prefix]
        keys.append(k.submitter_prefix)
        if self.min_replicas_ack:
            raw = await self._replicated(keys, args)
        else:
            async with translated(self.address):
                raw = await self.scripts.enqueue(keys=keys, args=args)
        return [
            self._enqueue_outcome(raw[i].decode(), int(raw[i + 1]), int(raw[i + 2]))
            for i in range(0, len(raw), 3)
        ]

    async def _replicated(self, keys: list[str], args: list[Arg]) -> Any:
        """The enqueue script, then WAIT on the same connection (WAIT counts the replicas that
        have every write of its own connection), in one round trip.

        Fewer replicas than FBQ_MIN_REPLICAS_ACK in time: the submissions are written but not
        yet safe from a failover, so the caller is told UNAVAILABLE and retries; with its
        idempotency key, the retry finds them instead of adding them again.
        """
        async with translated(self.address), self.client.pipeline(transaction=False) as pipe:
            await self.scripts.enqueue(keys=keys, args=args, client=pipe)
            pipe.execute_command(
                "WAIT", self.min_replicas_ack, int(self.replicas_ack_timeout * 1000)
            )
            raw, replicas = await pipe.execute()
        if int(replicas) < self.min_replicas_ack:
            raise QueueUnavailable(
                f"written, but {replicas} of the {self.min_replicas_ack} replicas "
                f"FBQ_MIN_REPLICAS_ACK asks for confirmed it within "
                f"{self.replicas_ack_timeout:g}s: retry with the same idempotency key"
            )
        return raw

    def _enqueue_outcome(
        self, job_id: str, status: int, outcome: int
    ) -> EnqueueResult | QueueError:
        if outcome >= 0:
            return EnqueueResult(job_id, Status(status), duplicate=outcome == 1)
        if outcome == -1:
            return Conflict(
                "idempotency_key was already used with a different payload; use a new key for "
                "new content"
            )
        if outcome == -2:
            return IdCollision(job_id)
        if outcome == -4:
            wait = status / 1000
            return RateLimited(
                f"submitter is over its rate of {self.submitter_rate} (FBQ_SUBMITTER_RATE); "
                f"retry in {wait:.1f}s",
                retry_after=wait,
            )
        return QueueFull(
            f"the queue holds its maximum of {self.max_waiting} waiting submissions "
            "(FBQ_MAX_WAITING); retry later",
            retry_after=1.0,
        )

    # -- consuming ----------------------------------------------------------------------------

    async def reserve(self, worker: str, count: int = 1, block: float = 0.0) -> list[Job]:
        """Take up to `count` jobs into `worker`'s processing list, marked ACTIVE.

        With a backlog, one take script moves many at once (`take`). With none and `block` > 0,
        BLMOVE waits up to `block` seconds for one (`wait_one`). Nothing is taken while paused
        or while the global rate limit allows no start.
        """
        taken = await self.take(worker, count)
        if taken.jobs or taken.paused or taken.wait or block <= 0:
            return taken.jobs
        return (await self.wait_one(worker, block)).jobs

    async def take(self, worker: str, count: int) -> Taken:
        """The backlog path: up to `count` waiting jobs in one round trip, oldest first."""
        now = self.now_ms()
        async with translated(self.address):
            raw = await self.scripts.take(
                keys=self._consuming_keys(worker), args=[now, worker, count, *self._rate_args()]
            )
        return _taken(raw, worker, now)

    async def ack_take(
        self, worker: str, done: Iterable[tuple[str, str]], count: int
    ) -> tuple[int, Taken]:
        """`ack` and `take` in one round trip: how many completed, and what was taken."""
        now = self.now_ms()
        args: list[Arg] = [now, self._retention_ms(), worker, count, *self._rate_args()]
        for job_id, result in done:
            args += [job_id, result]
        async with translated(self.address):
            raw = await self.scripts.ack_take(keys=self._consuming_keys(worker), args=args)
        return int(raw[0]), _taken(raw[1:], worker, now)

    def _consuming_keys(self, worker: str) -> list[str]:
        """The KEYS layout shared by the ack, take and ack_take scripts (see record.lua)."""
        k = self.keys
        return [
            k.waiting,
            k.active(worker),
            k.delayed,
            k.failed,
            k.completed,
            k.stats,
            k.job_prefix,
            k.started,
            k.paused,
            k.limiter,
        ]

    def _retention_ms(self) -> int:
        return max(int(self.retention * 1000), 1)

    async def wait_one(self, worker: str, block: float) -> Taken:
        """The idle path: BLMOVE waits up to `block` seconds for one job, then marks it ACTIVE.

        Call it after `take` found the queue empty (not paused): BLMOVE itself cannot see the
        pause flag or the rate limit, so the start script hands the job back when either says no.
        """
        k = self.keys
        active = k.active(worker)
        async with translated(self.address):
            # redis-py annotates the timeout as int; Redis 6+ takes fractions of a second.
            moved = await self.client.blmove(
                k.waiting,
                active,
                block,  # type: ignore[arg-type]
                "RIGHT",
                "LEFT",
            )
            if moved is None:
                return Taken([])
            now = self.now_ms()
            state, record = await self.scripts.start(
                keys=[active, k.waiting, k.paused, k.job_prefix, k.limiter, k.started],
                args=[now, worker, moved, *self._rate_args()],
            )
        state = int(state)
        if state:
            return Taken([], paused=state < 0, wait=max(state, 0) / 1000)
        return Taken([Job.from_raw(moved, record, worker, now)] if record else [])

    def _rate_args(self) -> tuple[int, int]:
        rate = self.rate_limit
        return (rate.limit, int(rate.period * 1000)) if rate else (0, 0)

    async def ack(self, worker: str, done: Iterable[tuple[str, str]]) -> int:
        """Complete (job id, result) pairs taken by `worker`; returns how many completed now."""
        args: list[Arg] = [self.now_ms(), self._retention_ms()]
        for job_id, result in done:
            args += [job_id, result]
        if len(args) == 2:
            return 0
        async with translated(self.address):
            return int(await self.scripts.ack(keys=self._consuming_keys(worker), args=args))

    async def fail(self, worker: str, failures: Sequence[Failure]) -> list[Status | None]:
        """Record failed attempts: DELAYED with backoff, or FAILED when permanent or the last.

        Returns each job's new status, or None when the job had already moved on (the attempt
        was reaped or this is a replay), in which case nothing changed.
        """
        if not failures:
            return []
        now = self.now_ms()
        args: list[Arg] = [now]
        for f in failures:
            args += [f.job.id, f.job.attempts, f.error[:MAX_ERROR_CHARS], self._retry_at(f, now)]
        k = self.keys
        async with translated(self.address):
            outcomes = await self.scripts.fail(
                keys=[k.active(worker), k.delayed, k.failed, k.stats, k.job_prefix, k.started],
                args=args,
            )
        return [{1: Status.DELAYED, 2: Status.FAILED}.get(int(o)) for o in outcomes]

    def _retry_at(self, failure: Failure, now: int) -> int:
        """When (ms) a failed attempt's job runs again; 0 when it is dead-lettered instead."""
        if failure.permanent or failure.job.attempts >= self.max_attempts:
            return 0
        delay = max(self.backoff.delay(failure.job.attempts), failure.retry_after)
        return now + max(int(delay * 1000), 1)

    async def release(self, worker: str, job_ids: Iterable[str]) -> int:
        """Hand `worker`'s unfinished jobs back to the front of waiting (shutdown)."""
        return await self._release(worker, "only", job_ids)

    async def recover(self, worker: str, keep: Iterable[str]) -> int:
        """Hand back every job in `worker`'s processing list except `keep`.

        A worker calls this after a lost reply: a take or BLMOVE that ran in Redis but never
        answered leaves jobs in its list that it does not know about.
        """
        return await self._release(worker, "except", keep)

    async def _release(self, worker: str, mode: str, job_ids: Iterable[str]) -> int:
        k = self.keys
        async with translated(self.address):
            return int(
                await self.scripts.release(
                    keys=[k.active(worker), k.waiting, k.job_prefix, k.started],
                    args=[mode, *job_ids],
                )
            )

    async def heartbeat(self, worker: str) -> None:
        """Tell the fleet `worker` is alive; its processing list is safe from the reaper."""
        async with translated(self.address):
            await self.client.zadd(self.keys.workers, {worker: self.now_ms()})

    async def leave(self, worker: str) -> int:
        """Hand back whatever `worker` still holds and leave the registry (clean shutdown)."""
        returned = await self.recover(worker, ())
        async with translated(self.address):
            await self.client.zrem(self.keys.workers, worker)
        return returned

    # -- housekeeping -------------------------------------------------------------------------

    async def promote_due(self, limit: int = 1000) -> int:
        """Move delayed jobs whose time has come to waiting; returns how many."""
        k = self.keys
        async with translated(self.address):
            return int(
                await self.scripts.promote(
                    keys=[k.delayed, k.waiting, k.job_prefix], args=[self.now_ms(), limit]
                )
            )

    async def reap(self) -> int:
        """Return the jobs of workers silent for longer than the grace period; returns how many."""
        k = self.keys
        now = self.now_ms()
        alive_after = now - int(self.heartbeat_grace * 1000)
        returned = 0
        async with translated(self.address):
            stale = _strs(await self.client.zrangebyscore(k.workers, "-inf", f"({alive_after}"))
            for worker in stale:
                n = await self.scripts.reap(
                    keys=[
                        k.workers,
                        k.active(worker),
                        k.waiting,
                        k.failed,
                        k.stats,
                        k.job_prefix,
                        k.started,
                    ],
                    args=[now, worker, alive_after, self.max_attempts],
                )
                returned += max(int(n), 0)
        return returned

    async def hold_lease(self, name: str, owner: str, lease: float) -> bool:
        """Take or renew the lease `name` for `owner` for `lease` seconds; 0 gives it up."""
        async with translated(self.address):
            held = await self.scripts.lock(
                keys=[self.keys.lock(name)], args=[owner, max(int(lease * 1000), 0)]
            )
        return bool(held)

    async def sweep(self, limit: int = 1000) -> tuple[int, int]:
        """Forget expired idempotency keys and trim the completed index."""
        k = self.keys
        now = self.now_ms()
        async with translated(self.address):
            forgotten, trimmed = await self.scripts.sweep(
                keys=[k.idem, k.idem_expiry, k.completed],
                args=[now, now - int(self.retention * 1000), limit],
            )
        return int(forgotten), int(trimmed)

    # -- reading ------------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        """The job with this id, or NotFound."""
        validate_id(job_id)
        jobs = await self._read([job_id])
        if not jobs:
            raise NotFound(job_id)
        return jobs[0]

    async def _read(self, ids: list[str]) -> list[Job]:
        """The jobs with these ids that exist, with who runs the ACTIVE ones, in one round trip."""
        if not ids:
            return []
        k = self.keys
        async with translated(self.address), self.client.pipeline(transaction=False) as pipe:
            # MGET spelled as a command: a cluster pipeline refuses .mget(), though every
            # key here is in the queue's one slot.
            pipe.execute_command("MGET", *(k.job(i) for i in ids))
            pipe.hmget(k.started, ids)
            raws, started = await pipe.execute()
        jobs = []
        for job_id, raw, who in zip(ids, raws, started, strict=True):
            if raw is None:
                continue
            job = Job.from_raw(job_id, raw)
            if who and job.status == Status.ACTIVE:
                worker, _, since = who.decode().partition("|")
                job = Job.from_raw(job_id, raw, worker, int(since))
            jobs.append(job)
        return jobs

    async def list_by_status(self, status: Status, limit: int = 50, cursor: str = "") -> Page:
        """One page of the jobs in `status`: waiting and delayed oldest or soonest first,
        completed and failed newest first. `cursor` comes from the previous page."""
        offset, limit = page_window(cursor, limit)
        async with translated(self.address):
            ids, total = await self._page_ids(status, offset, limit)
        return Page.of(await self._read(ids), offset, limit, total)

    async def _page_ids(self, status: Status, offset: int, limit: int) -> tuple[list[str], int]:
        k, c = self.keys, self.client
        last = offset + limit - 1
        ids: list[str]
        if status == Status.WAITING:
            ids = _strs(await c.lrange(k.waiting, -(last + 1), -(offset + 1)))[::-1]
            total = await c.llen(k.waiting)
        elif status == Status.ACTIVE:
            everyone: list[str] = []
            for worker in _strs(await c.zrange(k.workers, 0, -1)):
                everyone += _strs(await c.lrange(k.active(worker), 0, -1))
            ids, total = everyone[offset : last + 1], len(everyone)
        elif status == Status.DELAYED:
            ids, total = _strs(await c.zrange(k.delayed, offset, last)), await c.zcard(k.delayed)
        elif status in (Status.FAILED, Status.COMPLETED):
            zset = k.failed if status == Status.FAILED else k.completed
            ids, total = _strs(await c.zrevrange(zset, offset, last)), await c.zcard(zset)
        else:
            raise InvalidSubmission(
                "status", "must be one of WAITING, ACTIVE, DELAYED, COMPLETED, FAILED"
            )
        return ids, int(total)

    async def stats(self) -> QueueStats:
        """Counts of every state and the monotonic counters, in one round trip."""
        k = self.keys
        alive_after = self.now_ms() - int(self.heartbeat_grace * 1000)
        async with translated(self.address):
            raw = await self.scripts.stats(
                keys=[
                    k.waiting,
                    k.delayed,
                    k.failed,
                    k.workers,
                    k.stats,
                    k.paused,
                    k.active_prefix,
                ],
                args=[alive_after],
            )
        counters = {raw[i].decode(): int(raw[i + 1]) for i in range(6, len(raw), 2)}
        return QueueStats(
            waiting=int(raw[0]),
            active=int(raw[1]),
            delayed=int(raw[2]),
            failed=int(raw[3]),
            workers=int(raw[4]),
            paused=bool(raw[5]),
            completed=counters.get("completed", 0),
            enqueued_total=counters.get("enqueued", 0),
            failed_total=counters.get("failed", 0),
            retried_total=counters.get("retried", 0),
            recovered_total=counters.get("recovered", 0),
        )

    async def ping(self) -> None:
        """Raise QueueUnavailable (or QueueAuthError) unless Redis answers."""
        async with translated(self.address):
            await self._on_our_node("PING")

    async def server_info(self) -> ServerInfo:
        """INFO and the latency of one PING, for the health report."""
        async with translated(self.address):
            started = time.perf_counter()
            await self._on_our_node("PING")
            latency_ms = (time.perf_counter() - started) * 1000
            info = await self._on_our_node("INFO")
        if not isinstance(info, dict):  # redis-py parses INFO into a dict
            raise QueueError(f"Redis at {self.address} answered INFO with {type(info).__name__}")
        return ServerInfo(dict(info), latency_ms)

    async def _on_our_node(self, command: str) -> Any:
        """A keyless command, on the node that holds this queue's keys under Redis Cluster
        (elsewhere, on the one server)."""
        client: Any = self.client
        if isinstance(client, RedisCluster):
            await client.initialize()  # learns the slots on first use; then does nothing
            node = client.get_node_from_key(self.keys.waiting)
            return await client.execute_command(command, target_nodes=node)
        return await client.execute_command(command)

    # -- steering -----------------------------------------------------------------------------

    async def retry(self, job_id: str) -> None:
        """Send a FAILED job back to waiting with its attempts starting over."""
        validate_id(job_id)
        outcome = (await self._retry([job_id]))[0]
        if outcome == 0:
            raise NotFound(job_id)
        if outcome < 0:
            raise Conflict(f"submission {job_id!r} is not FAILED; only failed ones can be retried")

    async def retry_all_failed(self, chunk: int = 500) -> int:
        """Retry every FAILED job; returns how many."""
        retried = skipped = 0
        while True:
            async with translated(self.address):
                ids = _strs(
                    await self.client.zrange(self.keys.failed, skipped, skipped + chunk - 1)
                )
            if not ids:
                return retried
            outcomes = await self._retry(ids)
            done = sum(1 for o in outcomes if o == 1)
            retried += done
            skipped += len(outcomes) - done

    async def _retry(self, job_ids: list[str]) -> list[int]:
        k = self.keys
        async with translated(self.address):
            raw = await self.scripts.retry(
                keys=[k.failed, k.waiting, k.stats, k.job_prefix], args=job_ids
            )
        return [int(o) for o in raw]

    async def delete(self, job_id: str) -> None:
        """Remove a job that is not ACTIVE."""
        validate_id(job_id)
        k = self.keys
        async with translated(self.address):
            outcome = int(
                await self.scripts.delete(
                    keys=[
                        k.waiting,
                        k.delayed,
                        k.failed,
                        k.completed,
                        k.stats,
                        k.job_prefix,
                        k.started,
                    ],
                    args=[job_id],
                )
            )
        if outcome == 0:
            raise NotFound(job_id)
        if outcome < 0:
            raise Conflict(
                f"submission {job_id!r} is being processed; delete it once it has finished"
            )

    async def pause(self) -> None:
        """Workers take nothing new until `resume`; running jobs finish."""
        async with translated(self.address):
            await self.client.set(self.keys.paused, b"1")

    async def resume(self) -> None:
        async with translated(self.address):
            await self.client.delete(self.keys.paused)

    async def is_paused(self) -> bool:
        async with translated(self.address):
            return bool(await self.client.exists(self.keys.paused))


def _strs(values: Any) -> list[str]:
    """Decode a list reply (our clients answer bytes)."""
    return [v.decode() for v in values]


def _taken(raw: Any, worker: str, now: int) -> Taken:
    """Decode what take_jobs (record.lua) returned."""
    state = int(raw[0])
    if state:
        return Taken([], paused=state < 0, wait=max(state, 0) / 1000)
    return Taken([Job.from_raw(raw[i], raw[i + 1], worker, now) for i in range(1, len(raw), 2)])
