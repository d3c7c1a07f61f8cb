"""The consumer path: take jobs into a worker's processing list, then ack, fail or hand back.

A worker takes with the take script, which chooses fairly among the lanes of waiting work
(scripts/lib/lanes.lua), moves the jobs into the worker's own processing list, marks them
ACTIVE and gives each attempt a fence token (`Job.token`), all in one round trip. An idle
worker blocks on the queue's wake list (`wait_for_work`) until work is ready. `ack` completes
jobs, `fail` backs them off into `delayed` or dead-letters them into `failed`, `release` and
`recover` hand unfinished ones back, each first in line of its fairness key.
Ack, fail and release present the attempt's token: one that no longer holds the attempt (the
worker was reaped, the job retried or taken again) changes nothing. Every script here is
replay-safe (see its header).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from feedback_queue.job import Job, Status
from feedback_queue.outcomes import Acked, Failed, Progressed, TakeState, Timed
from feedback_queue.queue.base import Arg, QueueBase
from feedback_queue.queue.values import Ack, Failure, Taken

MAX_ERROR_CHARS = 2000
# How long Redis remembers a worker's last batch of histogram counts (s): longer than any
# outage a replay could follow.
BATCH_TTL = 86400
_FAILED_STATUS = {
    Failed.DELAYED: Status.DELAYED,
    Failed.DEAD: Status.FAILED,
    Failed.CANCELLED: Status.CANCELLED,
}


class Consuming(QueueBase):
    async def reserve(self, worker: str, count: int = 1, block: float = 0.0) -> list[Job]:
        """Take up to `count` jobs into `worker`'s processing list, marked ACTIVE.

        With none ready and `block` > 0, waits up to `block` seconds for work (`wait_for_work`).
        Nothing is taken while paused or while the global rate limit allows no start.
        """
        taken = await self.take(worker, count)
        if taken.jobs or taken.paused or taken.wait or block <= 0:
            return taken.jobs
        return (await self.wait_for_work(worker, count, block, taken.held)).jobs

    async def take(self, worker: str, count: int) -> Taken:
        """Up to `count` waiting jobs in one round trip, chosen fairly among the keys."""
        args: list[Arg] = [self.now_arg(), worker, count, *self._rate_args(), *self._share_args()]
        raw = await self._eval(self.scripts.take, self._consuming_keys(worker), args)
        return _taken(raw, worker)

    async def ack_take(
        self, worker: str, done: Iterable[Ack], count: int
    ) -> tuple[list[Acked], Taken]:
        """`ack` and `take` in one round trip: each ack's outcome, and what was taken."""
        args: list[Arg] = [self.now_arg(), self._retention_ms(), worker, count, *self._rate_args()]
        args += self._share_args()
        for ack in done:
            args += ack
        raw = await self._eval(self.scripts.ack_take, self._consuming_keys(worker), args)
        return [Acked(int(o)) for o in raw[0]], _taken(raw[1:], worker)

    def _consuming_keys(self, worker: str) -> list[str]:
        """The KEYS layout shared by the ack, take and ack_take scripts (lib/consume.lua)."""
        k = self.keys
        return [
            k.active(worker),
            k.delayed,
            k.failed,
            k.completed,
            k.stats,
            k.job_prefix,
            k.started,
            k.paused,
            k.limiter,
            k.workers,
            *k.lanes_block(),
            k.progress,
            k.leases,
        ]

    def _share_args(self) -> tuple[str, int, int]:
        fairness = self.config.fairness
        return fairness.default.encode(), fairness.guard, fairness.quantum

    async def wait_for_work(
        self, worker: str, count: int, block: float, held: float = 0.0
    ) -> Taken:
        """The idle path: wait up to `block` seconds (or `held`, when a lane held for its key's
        rate may start sooner) for the wake token a script leaves when work becomes ready, then
        take. Call it after `take` found nothing (not paused).

        The token outlives the wait (a list entry, not a message), so work that arrived between
        the take and this call is not missed; a token another worker's take already served
        costs one take that finds nothing.
        """
        wait = min(block, held) if held > 0 else block
        # redis-py annotates the timeout as int; Redis 6+ takes fractions of a second.
        await self._call(self.client.blpop([self.keys.wake], wait))
        return await self.take(worker, count)

    def _rate_args(self) -> tuple[int, int]:
        rate = self.config.rate_limit
        return (rate.limit, int(rate.period * 1000)) if rate else (0, 0)

    async def ack(self, worker: str, done: Iterable[Ack]) -> list[Acked]:
        """Complete (job id, token, result) triples taken by `worker`; one outcome each.

        STALE: the token no longer holds the attempt (the worker was reaped, the job retried or
        taken again), so nothing changed and the job runs again; ALREADY: a replay.
        """
        args: list[Arg] = [self.now_arg(), self._retention_ms(), worker]
        for ack in done:
            args += ack
        if len(args) == 3:
            return []
        outcomes = await self._eval(self.scripts.ack, self._consuming_keys(worker), args)
        return [Acked(int(o)) for o in outcomes]

    async def fail(self, worker: str, failures: Sequence[Failure]) -> list[Status | None]:
        """Record failed attempts: DELAYED with backoff, or FAILED when permanent or the last.

        Returns each job's new status, or None when the job's token no longer holds the attempt
        (the attempt was reaped, the job retried, or this is a replay): nothing changed.
        """
        if not failures:
            return []
        args: list[Arg] = [self.now_arg(), worker]
        for f in failures:
            args += [f.job.id, f.job.token, f.error[:MAX_ERROR_CHARS], self._backoff_ms(f)]
        k = self.keys
        outcomes = await self._eval(
            self.scripts.fail,
            [
                k.active(worker),
                k.delayed,
                k.failed,
                k.stats,
                k.job_prefix,
                k.started,
                *k.lanes_block(),
            ],
            args,
        )
        return [_FAILED_STATUS.get(Failed(int(o))) for o in outcomes]

    def _backoff_ms(self, failure: Failure) -> int:
        """How long (ms, by Redis's clock) before a failed attempt's job runs again; 0 when it
        is dead-lettered instead."""
        if failure.permanent or failure.job.attempts >= self.config.max_attempts:
            return 0
        delay = max(self.config.backoff.delay(failure.job.attempts), failure.retry_after)
        return max(int(delay * 1000), 1)

    async def release(self, worker: str, jobs: Iterable[Job]) -> int:
        """Hand `worker`'s unfinished jobs back to the front of waiting (shutdown); a job whose
        token no longer holds its attempt is not touched."""
        return await self._release(worker, "only", [a for j in jobs for a in (j.id, j.token)])

    async def recover(self, worker: str, keep: Iterable[str]) -> int:
        """Hand back every job in `worker`'s processing list except `keep`.

        A worker calls this after a lost reply: a take or BLMOVE that ran in Redis but never
        answered leaves jobs in its list that it does not know about.
        """
        return await self._release(worker, "except", keep)

    async def _release(self, worker: str, mode: str, args: Iterable[str]) -> int:
        k = self.keys
        keys = [k.active(worker), k.job_prefix, k.started, k.stats, *k.lanes_block()]
        return int(await self._eval(self.scripts.release, keys, [mode, worker, *args]))

    async def report(
        self, reports: Sequence[tuple[str, str, bytes]], gap_ms: int
    ) -> list[Progressed]:
        """Write (job id, token, report) progress reports of running attempts (progress.lua):
        each renews its attempt's lease. One outcome each: OK, THROTTLED (within `gap_ms` of
        the job's last one), LOST or CANCELLED (the attempt must stop)."""
        if not reports:
            return []
        k = self.keys
        args: list[Arg] = [gap_ms, *(a for report in reports for a in report)]
        keys = [k.started, k.job_prefix, k.progress, k.leases]
        return [Progressed(int(o)) for o in await self._eval(self.scripts.progress, keys, args)]

    async def add_timings(
        self, worker: str, batch: int, fields: Sequence[tuple[str, float]]
    ) -> bool:
        """Add one batch of `worker`'s histogram counts to the fleet's (timing.lua); False when
        Redis had that batch already (a replay after a lost reply): nothing was added twice."""
        k = self.keys
        args: list[Arg] = [batch, BATCH_TTL, *(a for pair in fields for a in pair)]
        keys = [k.timing, k.timing_batch(worker)]
        return Timed(int(await self._eval(self.scripts.timing, keys, args))) == Timed.ADDED

    async def heartbeat(self, worker: str) -> None:
        """Tell the fleet `worker` is alive; its processing list is safe from the reaper. The
        beat is stamped with Redis's clock, which also judges it; a beat after a gap in the
        fleet's beats holds the reaper back for one grace (beat.lua)."""
        k, grace = self.keys, int(self.config.heartbeat_grace * 1000)
        await self._eval(self.scripts.beat, [k.workers, k.reaper], [worker, grace])

    async def leave(self, worker: str) -> int:
        """Hand back whatever `worker` still holds and leave the registry (clean shutdown)."""
        returned = await self.recover(worker, ())
        await self._call(self.client.zrem(self.keys.workers, worker))
        return returned


def _not_taken(state: int) -> Taken:
    """No jobs: paused, or the ms until the global rate limit allows a start."""
    return Taken([], paused=state == TakeState.PAUSED, wait=max(state, 0) / 1000)


def _taken(raw: Any, worker: str) -> Taken:
    """Decode what take_jobs (lib/consume.lua) returned: a state, the time (ms, Redis's
    clock), the ms until a lane held for its key's rate may start, then id, record, token."""
    state, now, held = int(raw[0]), int(raw[1]), int(raw[2])
    if state != TakeState.OK:
        return _not_taken(state)
    return Taken(
        [Job.from_raw(raw[i], raw[i + 1], worker, now, raw[i + 2]) for i in range(3, len(raw), 3)],
        held=held / 1000,
    )
