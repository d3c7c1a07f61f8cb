"""The admin path: read submissions, list them by status, count, retry, delete, pause."""

from __future__ import annotations

import dataclasses
import time

from feedback_queue import timing
from feedback_queue.errors import Conflict, InvalidSubmission, NotFound, QueueError
from feedback_queue.job import Job, Status, parse_started
from feedback_queue.outcomes import Deleted, Retried
from feedback_queue.progress import Progress
from feedback_queue.queue.base import QueueBase, strs, text
from feedback_queue.queue.values import Page, QueueStats, ServerInfo, page_window
from feedback_queue.record import HEADER_SIZE
from feedback_queue.timing import Histogram
from feedback_queue.validation import validate_id

# The most record bytes one listing page reads from Redis (STRLEN first, then the records).
PAGE_BYTES = 4 * 1024 * 1024


class Steering(QueueBase):
    # -- reading ------------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        """The job with this id, or NotFound."""
        validate_id(job_id)
        jobs = await self._read([job_id])
        if not jobs:
            raise NotFound(job_id)
        return jobs[0]

    async def glance(self, job_id: str) -> tuple[object, ...]:
        """A few bytes that change whenever the job's state does: the record's header (status,
        attempts), its length (the extras a transition writes), its running attempt, and when
        that last reported progress (its lease, progress.lua). A
        watch compares these each look and reads the whole record only when they change: a
        poll of a 250 KB submission then costs ~50 bytes, not 250 KB. NotFound if none."""
        validate_id(job_id)
        k = self.keys

        async def look() -> list[object]:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.getrange(k.job(job_id), 0, HEADER_SIZE - 1)
                pipe.strlen(k.job(job_id))
                pipe.hget(k.started, job_id)
                pipe.zscore(k.leases, job_id)
                return list(await pipe.execute())

        seen = await self._call(look())
        if not seen[1]:
            raise NotFound(job_id)
        return tuple(seen)

    async def _read(self, ids: list[str]) -> list[Job]:
        """The jobs with these ids that exist, with who runs the ACTIVE ones and what they last
        reported, in one round trip."""
        if not ids:
            return []
        k = self.keys

        async def records_and_runners() -> list[list[bytes | None]]:
            async with self.client.pipeline(transaction=False) as pipe:
                # MGET spelled as a command: a cluster pipeline refuses .mget(), though every
                # key here is in the queue's one slot.
                pipe.execute_command("MGET", *(k.job(i) for i in ids))
                pipe.hmget(k.started, ids)
                pipe.hmget(k.progress, ids)
                return list(await pipe.execute())

        raws, started, reports = await self._call(records_and_runners())
        jobs = []
        for job_id, raw, who, report in zip(ids, raws, started, reports, strict=True):
            if raw is None:
                continue
            job = Job.from_raw(job_id, raw)
            if who and job.status == Status.ACTIVE:
                entry = parse_started(who)
                job = Job.from_raw(job_id, raw, entry.worker, entry.since)
                if report:
                    token, progress = Progress.stored(report)
                    if token == entry.token:  # the running attempt's, not an earlier one's
                        job = dataclasses.replace(job, progress=progress)
            jobs.append(job)
        return jobs

    async def list_by_status(
        self, status: Status, limit: int = 50, cursor: str = "", max_bytes: int = PAGE_BYTES
    ) -> Page:
        """One page of the jobs in `status`: waiting and delayed oldest or soonest first,
        completed, failed and cancelled newest first. `cursor` comes from the previous page.

        The page holds at most `max_bytes` of records (but always one): a listing of large
        records reads a few at a time instead of hundreds of megabytes (issue #21, finding 4).
        """
        offset, limit = page_window(cursor, limit)
        ids, total = await self._call(self._page_ids(status, offset, limit))
        fitting = await self._fitting(ids, max_bytes)
        # A page cut short by its bytes goes on from the first record it left out.
        consumed = len(fitting) if len(fitting) < len(ids) else limit
        return Page.of(await self._read(fitting), offset, consumed, total)

    async def _fitting(self, ids: list[str], max_bytes: int) -> list[str]:
        """The first of `ids` whose records add up to at most `max_bytes` (at least one)."""
        if len(ids) < 2:
            return ids

        async def sizes() -> list[int]:
            async with self.client.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.strlen(self.keys.job(job_id))
                return [int(n) for n in await pipe.execute()]

        held = 0
        for count, size in enumerate(await self._call(sizes())):
            held += size
            if held > max_bytes and count:
                return ids[:count]
        return ids

    async def _page_ids(self, status: Status, offset: int, limit: int) -> tuple[list[str], int]:
        k, c = self.keys, self.client
        last = offset + limit - 1
        ids: list[str]
        if status == Status.WAITING:
            ids, total = await self._waiting_page(offset, limit)
        elif status == Status.ACTIVE:
            everyone: list[str] = []
            for worker in strs(await c.zrange(k.workers, 0, -1)):
                everyone += strs(await c.lrange(k.active(worker), 0, -1))
            ids, total = everyone[offset : last + 1], len(everyone)
        elif status == Status.DELAYED:
            ids, total = strs(await c.zrange(k.delayed, offset, last)), await c.zcard(k.delayed)
        elif status in (Status.FAILED, Status.COMPLETED, Status.CANCELLED):
            zset = {Status.FAILED: k.failed, Status.COMPLETED: k.completed}.get(status, k.cancelled)
            ids, total = strs(await c.zrevrange(zset, offset, last)), await c.zcard(zset)
        else:
            raise InvalidSubmission(
                "status", "must be one of WAITING, ACTIVE, DELAYED, COMPLETED, FAILED, CANCELLED"
            )
        return ids, int(total)

    async def waiting_ids(self) -> list[str]:
        """Every waiting id, lane by lane (waiting_lanes), each lane first in line first."""
        c, ids = self.client, []
        for name, _ in await self.waiting_lanes():
            ids += strs(await self._call(c.lrange(name, 0, -1)))[::-1]
        return ids

    async def _waiting_page(self, offset: int, limit: int) -> tuple[list[str], int]:
        lanes = await self.waiting_lanes()
        ids: list[str] = []
        skip = offset
        for name, size in lanes:
            if skip >= size:
                skip -= size
                continue
            want = limit - len(ids)
            # A lane's head is its right end: first in line first.
            ids += strs(await self.client.lrange(name, -(skip + want), -(skip + 1)))[::-1]
            skip = 0
            if len(ids) >= limit:
                break
        return ids, sum(size for _, size in lanes)

    async def stats(self) -> QueueStats:
        """Counts of every state and the monotonic counters, in one round trip."""
        k = self.keys
        grace = int(self.config.heartbeat_grace * 1000)
        keys = [k.fair, k.delayed, k.failed, k.workers, k.stats, k.paused, k.active_prefix]
        raw = await self._eval(self.scripts.stats, keys, [grace])
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
            cancelled_total=counters.get("cancelled", 0),
        )

    async def timings(self) -> list[Histogram]:
        """The fleet's histograms of queue wait and processing time (timing.py)."""
        raw = await self._call(self.client.hgetall(self.keys.timing))
        return timing.parse((text(k), text(v)) for k, v in raw.items())

    async def ping(self) -> None:
        """Raise QueueUnavailable (or QueueAuthError) unless Redis answers."""
        await self._on_our_node("PING")

    async def server_info(self) -> ServerInfo:
        """INFO and the latency of one PING, for the health report."""
        started = time.perf_counter()
        await self._on_our_node("PING")
        latency_ms = (time.perf_counter() - started) * 1000
        info = await self._on_our_node("INFO")
        if not isinstance(info, dict):  # redis-py parses INFO into a dict
            raise QueueError(f"Redis at {self.address} answered INFO with {type(info).__name__}")
        return ServerInfo(dict(info), latency_ms)

    # -- steering -----------------------------------------------------------------------------

    async def retry(self, job_id: str) -> None:
        """Send a FAILED job back to waiting with its attempts starting over."""
        validate_id(job_id)
        outcome = (await self._retry([job_id]))[0]
        if outcome == Retried.NOT_FOUND:
            raise NotFound(job_id)
        if outcome == Retried.NOT_FAILED:
            raise Conflict(f"submission {job_id!r} is not FAILED; only failed ones can be retried")

    async def retry_all_failed(self, chunk: int = 500) -> int:
        """Retry every FAILED job; returns how many."""
        retried = skipped = 0
        while True:
            last = skipped + chunk - 1
            ids = strs(await self._call(self.client.zrange(self.keys.failed, skipped, last)))
            if not ids:
                return retried
            outcomes = await self._retry(ids)
            done = sum(1 for o in outcomes if o == Retried.RETRIED)
            retried += done
            skipped += len(outcomes) - done

    async def _retry(self, job_ids: list[str]) -> list[Retried]:
        k = self.keys
        keys = [k.failed, k.stats, k.job_prefix, *k.lanes_block()]
        return [Retried(int(o)) for o in await self._eval(self.scripts.retry, keys, job_ids)]

    async def delete(self, job_id: str) -> None:
        """Remove a job that is not ACTIVE."""
        validate_id(job_id)
        k = self.keys
        keys = [k.delayed, k.failed, k.completed, k.stats, k.job_prefix, k.started]
        keys += [*k.lanes_block(), k.cancelled]
        outcome = Deleted(int(await self._eval(self.scripts.delete, keys, [job_id])))
        if outcome == Deleted.NOT_FOUND:
            raise NotFound(job_id)
        if outcome == Deleted.ACTIVE:
            raise Conflict(
                f"submission {job_id!r} is being processed; delete it once it has finished"
            )

    async def pause(self) -> None:
        """Workers take nothing new until `resume`; running jobs finish."""
        await self._call(self.client.set(self.keys.paused, b"1"))

    async def resume(self) -> None:
        await self._call(self.client.delete(self.keys.paused))

    async def is_paused(self) -> bool:
        return bool(await self._call(self.client.exists(self.keys.paused)))
