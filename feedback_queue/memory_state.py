"""The in-memory queue's data: DESIGN.md §3's Redis data model as plain Python, and the scripts'
transitions over it.

Each method of `State` does what the Lua script it names does, step for step, so both backends
give the same outcome codes, orders and counters. Lists keep Redis's orientation (index 0 is the
head, where LPUSH puts; jobs are taken from the right end), sorted sets are dicts of member to
score ranked as Redis ranks them, so each method reads beside its script. Times are ms from the
queue's clock. Nothing here awaits: in one event loop each call is atomic, as a script is in
Redis.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import islice

from feedback_queue.errors import InvalidSubmission
from feedback_queue.job import Job, Status
from feedback_queue.queue import QueueStats
from feedback_queue.record import Record

WAITING, ACTIVE, DELAYED, COMPLETED, FAILED = (
    Status.WAITING,
    Status.ACTIVE,
    Status.DELAYED,
    Status.COMPLETED,
    Status.FAILED,
)


def ranked(zset: dict[str, int]) -> list[str]:
    """A sorted set's members in Redis's order: by score, then by member."""
    return sorted(zset, key=lambda member: (zset[member], member))


def running(rec: Record, worker: str, started_ms: int) -> Record:
    """The record as `Job.from_raw` shows it with the running attempt's worker and start."""
    return replace(rec, worker=worker or rec.worker, started_ms=started_ms or rec.started_ms)


def _rounded(ms: float) -> float:
    # The scripts store limiter times with '%.3f'; rounding alike keeps the arithmetic identical.
    return float(f"{ms:.3f}")


@dataclass
class State:
    """One queue's data, key by key (keys.py names the Redis twin of each field)."""

    records: dict[str, Record] = field(default_factory=dict)  # job:<id>
    expires: dict[str, int] = field(default_factory=dict)  # the PEXPIRE of finished records
    started: dict[str, tuple[str, int]] = field(default_factory=dict)
    waiting: deque[str] = field(default_factory=deque)
    active: dict[str, deque[str]] = field(default_factory=dict)  # an emptied list is dropped
    workers: dict[str, int] = field(default_factory=dict)
    delayed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    completed: dict[str, int] = field(default_factory=dict)
    idem: dict[str, str] = field(default_factory=dict)  # key -> id (Redis adds the digest)
    idem_expiry: dict[str, int] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    paused: bool = False
    limiter: float = 0.0
    submitters: dict[str, float] = field(default_factory=dict)
    locks: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> owner, expiry

    # -- records and lists --------------------------------------------------------------------

    def record(self, job_id: str, now: int) -> Record | None:
        """The job's record, unless its retention ran out (Redis would have expired the key)."""
        expires = self.expires.get(job_id)
        if expires is not None and now > expires:
            self.records.pop(job_id, None)
            del self.expires[job_id]
        return self.records.get(job_id)

    def store(self, job_id: str, rec: Record, expires: int | None = None) -> None:
        """SET: like it, a write without an expiry clears the old one."""
        self.records[job_id] = rec
        if expires is None:
            self.expires.pop(job_id, None)
        else:
            self.expires[job_id] = expires

    def processing(self, worker: str) -> deque[str]:
        return self.active.setdefault(worker, deque())

    def drop_active(self, worker: str, job_id: str) -> bool:
        """LREM processing-list 1 id."""
        jobs = self.active.get(worker)
        if jobs is None or job_id not in jobs:
            return False
        jobs.remove(job_id)
        if not jobs:
            del self.active[worker]
        return True

    def settle(self, job_id: str, rec: Record) -> Record:
        """settle_started (record.lua): the attempt's worker and start move into the record."""
        who = self.started.pop(job_id, None)
        return rec if who is None else replace(rec, worker=who[0], started_ms=who[1])

    # -- enqueue.lua --------------------------------------------------------------------------

    def enqueue(
        self,
        now: int,
        job_id: str,
        rec: Record,
        key: str,
        submitter: str,
        *,
        options: tuple[int, int, int, int],
    ) -> tuple[str, int, int]:
        """One job of enqueue.lua: id, status (or ms to wait), outcome code.

        `options` are the script's own: idempotency TTL, waiting cap, submitter rate and period.
        """
        idem_ttl, cap, rate, period = options
        if key:
            seen, expires = self.idem.get(key), self.idem_expiry.get(key)
            old = self.record(seen, now) if seen and expires is not None and expires > now else None
            if seen and old is not None:
                if old.payload != rec.payload:
                    return job_id, 0, -1
                return seen, old.status, 2 if seen == job_id else 1
        existing = self.record(job_id, now)
        if existing is not None:
            return (
                (job_id, existing.status, 2) if existing.payload == rec.payload else (job_id, 0, -2)
            )
        if rec.run_at_ms <= now and 0 < cap <= len(self.waiting):
            return job_id, 0, -3
        if rate > 0 and (wait := self._admit_submitter(submitter, now, rate, period)):
            return job_id, wait, -4
        self.store(job_id, rec)
        if rec.run_at_ms > now:
            self.delayed[job_id] = rec.run_at_ms
        else:
            self.waiting.appendleft(job_id)
        if key:
            self.idem[key] = job_id
            self.idem_expiry[key] = now + idem_ttl
        self.counters["enqueued"] += 1
        return job_id, DELAYED if rec.run_at_ms > now else WAITING, 0

    def _admit_submitter(self, submitter: str, now: int, rate: int, period: int) -> int:
        """enqueue.lua's GCRA: 0 when the submitter may go on (counted), else ms to wait."""
        tat = max(self.submitters.get(submitter, 0.0), now)
        new_tat = tat + period / rate
        wait = new_tat - now - period
        if wait > 0:
            return math.ceil(wait)
        self.submitters[submitter] = _rounded(new_tat)
        return 0

    # -- consuming (record.lua, start.lua, fail.lua, release.lua) -----------------------------

    def limiter_admit(self, now: int, limit: int, period: int, n: int) -> tuple[int, int]:
        """How many of `n` may start now (counted), and if none, the ms until one may."""
        if limit <= 0:
            return n, 0
        interval = period / limit
        tat = max(self.limiter, now)
        allowed = min(n, math.floor((now + period - tat) / interval))
        if allowed <= 0:
            return 0, max(math.ceil(tat + interval - period - now), 1)
        self.limiter = _rounded(tat + allowed * interval)
        return allowed, 0

    def mark_active(self, now: int, worker: str, job_id: str) -> Record | None:
        """mark_active: one more attempt for `worker`; None (and off the list) when gone or done."""
        rec = self.record(job_id, now)
        if rec is None or rec.status == COMPLETED:
            self.drop_active(worker, job_id)
            return None
        if rec.status == ACTIVE and self.started.get(job_id, ("",))[0] == worker:
            return rec  # a replay
        rec = replace(rec, status=ACTIVE, attempts=rec.attempts + 1)
        self.records[job_id] = rec  # SETRANGE: any expiry stays
        self.started[job_id] = (worker, now)
        return rec

    def take(
        self, now: int, worker: str, n: int, rate: int, period: int
    ) -> tuple[int, list[tuple[str, Record]]]:
        """take_jobs: state (0, -1 paused, or ms to wait) and the jobs taken, oldest first."""
        if self.paused:
            return -1, []
        n = min(n, len(self.waiting))
        if n <= 0:
            return 0, []
        allowed, wait = self.limiter_admit(now, rate, period, n)
        if allowed == 0:
            return wait, []
        oldest_first = [self.waiting.pop() for _ in range(allowed)]
        self.processing(worker).extendleft(oldest_first)  # the newest ends up at the head
        marked = ((i, self.mark_active(now, worker, i)) for i in oldest_first)
        return 0, [(i, rec) for i, rec in marked if rec is not None]

    def start(
        self, now: int, worker: str, job_id: str, rate: int, period: int
    ) -> tuple[int, Record | None]:
        """start.lua, after the move into `worker`'s list: paused or limited hands it back."""
        state = -1 if self.paused else self.limiter_admit(now, rate, period, 1)[1]
        if state:
            if self.drop_active(worker, job_id):
                self.waiting.append(job_id)  # first in line, untouched
            return state, None
        return 0, self.mark_active(now, worker, job_id)

    def ack(self, now: int, retention: int, worker: str, done: Iterable[tuple[str, str]]) -> int:
        """ack_jobs: complete, keep for `retention` ms; a late ack also unqueues the job."""
        count = 0
        for job_id, result in done:
            rec = self.record(job_id, now)
            if not self.drop_active(worker, job_id) and rec is not None:
                if job_id in self.waiting:
                    self.waiting.remove(job_id)
                self.delayed.pop(job_id, None)
                self.failed.pop(job_id, None)
            if rec is None or rec.status == COMPLETED:
                continue
            rec = replace(
                self.settle(job_id, rec),
                status=COMPLETED,
                finished_ms=now,
                result=result,
                run_at_ms=0,
            )
            self.store(job_id, rec, expires=now + retention)
            self.completed[job_id] = now
            count += 1
        self.counters["completed"] += count
        return count

    def fail(self, now: int, worker: str, items: Iterable[tuple[str, int, str, int]]) -> list[int]:
        """fail.lua: per (id, attempt, error, retry at): 1 delayed, 2 failed, 0 stale."""
        out = []
        for job_id, attempt, error, retry_at in items:
            rec = self.record(job_id, now)
            if rec is None or rec.status != ACTIVE or rec.attempts != attempt:
                out.append(0)
                continue
            self.drop_active(worker, job_id)
            rec = replace(self.settle(job_id, rec), error=error)
            if retry_at > 0:
                self.store(job_id, replace(rec, status=DELAYED, run_at_ms=retry_at))
                self.delayed[job_id] = retry_at
                self.counters["retried"] += 1
                out.append(1)
            else:
                self.store(job_id, replace(rec, status=FAILED, finished_ms=now))
                self.failed[job_id] = now
                self.counters["failed"] += 1
                out.append(2)
        return out

    def release(self, now: int, worker: str, only: bool, job_ids: Iterable[str]) -> int:
        """release.lua: the listed ids (`only`) or all but them back to the front of waiting."""
        listed = set(job_ids)
        back = 0
        for job_id in list(self.active.get(worker, ())):
            if only != (job_id in listed):
                continue
            self.drop_active(worker, job_id)
            rec = self.record(job_id, now)
            self.started.pop(job_id, None)
            if rec is None or rec.status == COMPLETED:
                continue
            if rec.status == ACTIVE:
                # The interrupted attempt does not count against the job.
                self.store(job_id, replace(rec, status=WAITING, attempts=max(rec.attempts - 1, 0)))
            self.waiting.append(job_id)
            back += 1
        return back

    # -- housekeeping (promote.lua, reap.lua, lock.lua, sweep.lua) ----------------------------

    def promote(self, now: int, limit: int) -> int:
        due = [i for i in ranked(self.delayed) if self.delayed[i] <= now]
        moved = 0
        for job_id in due if limit < 0 else due[:limit]:
            del self.delayed[job_id]
            rec = self.record(job_id, now)
            if rec is not None:
                self.store(job_id, replace(rec, status=WAITING, run_at_ms=0))
                self.waiting.appendleft(job_id)
                moved += 1
        return moved

    def reap(self, now: int, worker: str, alive_after: int, max_attempts: int) -> int:
        """reap.lua: a silent worker's jobs back first in line (oldest first), or -1 if alive."""
        beat = self.workers.get(worker)
        if beat is not None and beat >= alive_after:
            return -1
        returned = 0
        for job_id in self.active.pop(worker, deque()):  # newest first, as LRANGE lists it
            rec = self.record(job_id, now)
            if rec is None:
                continue
            rec = self.settle(job_id, rec)
            if rec.status == ACTIVE and rec.attempts >= max_attempts:
                error = f"worker {worker} stopped during the last attempt ({rec.attempts})"
                self.store(job_id, replace(rec, status=FAILED, finished_ms=now, error=error))
                self.failed[job_id] = now
                self.counters["failed"] += 1
            elif rec.status in (ACTIVE, WAITING):
                if rec.status == ACTIVE:
                    error = f"worker {worker} stopped during attempt {rec.attempts}"
                    self.store(job_id, replace(rec, status=WAITING, error=error))
                self.waiting.append(job_id)
                returned += 1
        self.workers.pop(worker, None)
        self.counters["recovered"] += returned
        return returned

    def lock(self, now: int, name: str, owner: str, lease_ms: int) -> bool:
        held = self.locks.get(name)
        if held is not None and now <= held[1] and held[0] != owner:
            return False
        if lease_ms == 0:
            self.locks.pop(name, None)
            return False
        self.locks[name] = (owner, now + lease_ms)
        return True

    def sweep(self, now: int, completed_before: int, limit: int) -> tuple[int, int]:
        """sweep.lua; and what Redis frees by itself: expired records, stale rate states."""
        due = [k for k in ranked(self.idem_expiry) if self.idem_expiry[k] <= now][:limit]
        for key in due:
            self.idem.pop(key, None)
            del self.idem_expiry[key]
        trimmed = [i for i, at in self.completed.items() if at < completed_before]
        for job_id in trimmed:
            del self.completed[job_id]
        for job_id in [i for i, at in self.expires.items() if now > at]:
            self.record(job_id, now)
        self.submitters = {s: tat for s, tat in self.submitters.items() if tat > now}
        return len(due), len(trimmed)

    # -- admin (retry.lua, delete.lua) --------------------------------------------------------

    def retry(self, now: int, job_ids: Iterable[str]) -> list[int]:
        """retry.lua: per id, 1 back to waiting with attempts from 0, 0 not found, -1 not FAILED."""
        out = []
        for job_id in job_ids:
            rec = self.record(job_id, now)
            if rec is None or rec.status != FAILED:
                out.append(0 if rec is None else -1)
                continue
            self.failed.pop(job_id, None)
            self.store(job_id, replace(rec, status=WAITING, attempts=0, finished_ms=0))
            self.waiting.appendleft(job_id)
            self.counters["admin_retried"] += 1
            out.append(1)
        return out

    def delete(self, now: int, job_id: str) -> int:
        """delete.lua: 1 deleted, 0 not found, -1 ACTIVE (left to its worker)."""
        rec = self.record(job_id, now)
        if rec is None or rec.status == ACTIVE:
            return 0 if rec is None else -1
        if job_id in self.waiting:
            self.waiting = deque(i for i in self.waiting if i != job_id)
        for zset in (self.delayed, self.failed, self.completed):
            zset.pop(job_id, None)
        self.records.pop(job_id, None)
        self.expires.pop(job_id, None)
        self.started.pop(job_id, None)
        self.counters["deleted"] += 1
        return 1

    # -- reading ------------------------------------------------------------------------------

    def read(self, job_ids: Iterable[str], now: int) -> list[Job]:
        """The jobs that exist, with who runs the ACTIVE ones (Queue._read)."""
        jobs = []
        for job_id in job_ids:
            rec = self.record(job_id, now)
            if rec is None:
                continue
            who = self.started.get(job_id)
            jobs.append(Job(job_id, running(rec, *who) if who and rec.status == ACTIVE else rec))
        return jobs

    def page_ids(self, status: Status, offset: int, limit: int) -> tuple[list[str], int]:
        """Queue._page_ids: waiting and delayed oldest or soonest first, the finished newest."""
        end = offset + limit
        if status == WAITING:
            return list(islice(reversed(self.waiting), offset, end)), len(self.waiting)
        if status == ACTIVE:
            everyone = [i for w in ranked(self.workers) for i in self.active.get(w, ())]
            return everyone[offset:end], len(everyone)
        if status == DELAYED:
            return ranked(self.delayed)[offset:end], len(self.delayed)
        if status in (FAILED, COMPLETED):
            zset = self.failed if status == FAILED else self.completed
            return ranked(zset)[::-1][offset:end], len(zset)
        raise InvalidSubmission(
            "status", "must be one of WAITING, ACTIVE, DELAYED, COMPLETED, FAILED"
        )

    def stats(self, alive_after: int) -> QueueStats:
        """stats.lua: counts, live workers and the counters."""
        return QueueStats(
            waiting=len(self.waiting),
            active=sum(len(self.active.get(w, ())) for w in self.workers),
            delayed=len(self.delayed),
            failed=len(self.failed),
            workers=sum(1 for beat in self.workers.values() if beat >= alive_after),
            paused=self.paused,
            completed=self.counters["completed"],
            enqueued_total=self.counters["enqueued"],
            failed_total=self.counters["failed"],
            retried_total=self.counters["retried"],
            recovered_total=self.counters["recovered"],
        )
