"""One logical queue spread over FBQ_SHARDS queues, for Redis Cluster (DESIGN §3, scale-out).

Each shard is an ordinary `Queue` with its own hash tag (`keys.shard_names` puts the tags in
different parts of the slot space, so an evenly split cluster holds them on different masters).
A submission with an idempotency key goes to the shard of that key (a stable hash), so the key
means the same with any number of shards: one shard holds it, whoever submits under it. One
without a key goes to the shard of its submitter. The submitter rate (FBQ_SUBMITTER_RATE) is
kept per shard, so a submitter whose keyed submissions spread over N shards may reach N times
it; so is FBQ_PRINCIPAL_RATE. An id starts with its shard's mark, so reads, retries and deletes
by id go straight to the right shard (ids made before sharding are looked for in every shard).
Workers run one fetch loop per shard (worker_service/server.py).

`QueueApi` is what ingest and the health check use of a queue; workers use the shards themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import Protocol, TypeVar

from redis.asyncio import Redis

from feedback_queue.errors import NotFound, QueueError
from feedback_queue.fairness import Quota
from feedback_queue.job import ID_FIRST, Job, Status
from feedback_queue.keys import shard_names
from feedback_queue.queue import (
    NOBODY,
    CancelFilter,
    EnqueueResult,
    FairShareView,
    KeyShare,
    Owner,
    Page,
    Queue,
    QueueStats,
    ServerInfo,
    page_window,
)
from feedback_queue.queue.sharing import MAX_TOP
from feedback_queue.settings import Settings
from feedback_queue.timing import Histogram, Series
from feedback_queue.v1 import queue_pb2 as pb

T = TypeVar("T")
# Shard i's ids start with ALPHABET[i] (so at most 62 shards, FBQ_SHARDS' maximum).
ALPHABET = ID_FIRST


class QueueApi(Protocol):
    """What ingest and the health check need of a queue: `Queue` or sharded."""

    @property
    def name(self) -> str: ...

    @property
    def max_attempts(self) -> int: ...

    async def enqueue_many(
        self,
        items: Sequence[tuple[pb.Submission, float]],
        owner: Owner = NOBODY,
        traces: Sequence[str] = (),
    ) -> list[EnqueueResult | QueueError]:
        """Each item's result or its own error, in order; never raises QueueError."""
        ...

    async def get(self, job_id: str) -> Job: ...

    async def glance(self, job_id: str) -> tuple[object, ...]: ...
    async def list_by_status(self, status: Status, limit: int = 50, cursor: str = "") -> Page: ...

    async def stats(self) -> QueueStats: ...

    async def retry(self, job_id: str) -> None: ...

    async def retry_all_failed(self, chunk: int = 500) -> int: ...

    async def delete(self, job_id: str) -> None: ...

    async def cancel(self, job_id: str, by: str) -> bool: ...

    async def cancel_where(self, where: CancelFilter, by: str, *, dry_run: bool = False) -> int: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    async def is_paused(self) -> bool: ...

    async def timings(self) -> list[Histogram]: ...

    async def ping(self) -> None: ...

    async def fair_share(self, top: int = 10) -> FairShareView: ...

    async def set_quota(
        self,
        key: str,
        weight: float | None = None,
        rate: float | None = None,
        max_active: int | None = None,
        reset: bool = False,
    ) -> tuple[Quota, bool]: ...

    async def server_info(self) -> ServerInfo: ...

    async def close(self) -> None: ...


def shard_queues(settings: Settings, client: Redis) -> list[Queue]:
    """The queues FBQ_SHARDS names, each marking its ids; one plain queue when it is 1."""
    names = shard_names(settings.queue.name, settings.queue.shards)
    if len(names) == 1:
        return [Queue.from_settings(settings, client)]
    return [
        Queue(
            client,
            dataclasses.replace(settings.queue, name=name),
            address=settings.redis.address,
            id_mark=ALPHABET[index],
        )
        for index, name in enumerate(names)
    ]


@dataclass
class ShardedQueue:
    """The logical queue `name` over `shards`."""

    name: str
    shards: list[Queue]

    @classmethod
    def from_settings(cls, settings: Settings, client: Redis) -> ShardedQueue:
        return cls(settings.queue.name, shard_queues(settings, client))

    @property
    def max_attempts(self) -> int:
        return self.shards[0].max_attempts

    def shard_of(self, submission: pb.Submission) -> int:
        """Its idempotency key's shard when it has one, else its submitter's."""
        if submission.idempotency_key:
            return self._shard_of_text(submission.idempotency_key)
        return self.shard_of_submitter(submission.submitter_id)

    def shard_of_submitter(self, submitter_id: str) -> int:
        return self._shard_of_text(submitter_id)

    def _shard_of_text(self, text: str) -> int:
        digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % len(self.shards)

    async def enqueue_many(
        self,
        items: Sequence[tuple[pb.Submission, float]],
        owner: Owner = NOBODY,
        traces: Sequence[str] = (),
    ) -> list[EnqueueResult | QueueError]:
        groups: dict[int, list[int]] = {}
        for position, (submission, _) in enumerate(items):
            groups.setdefault(self.shard_of(submission), []).append(position)
        results: dict[int, EnqueueResult | QueueError] = {}

        async def send(shard: int, positions: list[int]) -> None:
            mine = [traces[p] for p in positions] if traces else []
            outcomes = await self.shards[shard].enqueue_many(
                [items[p] for p in positions], owner, mine
            )
            results.update(zip(positions, outcomes, strict=True))

        await asyncio.gather(*(send(shard, positions) for shard, positions in groups.items()))
        return [results[position] for position in range(len(items))]

    async def _by_id(self, job_id: str, call: Callable[[Queue], Awaitable[T]]) -> T:
        """`call` on the shard `job_id` names; else (an id from before sharding) on each."""
        mark = ALPHABET.find(job_id[:1])
        first = mark if 0 <= mark < len(self.shards) else 0
        order = [first, *(i for i in range(len(self.shards)) if i != first)]
        missing: NotFound | None = None
        for index in order:
            try:
                return await call(self.shards[index])
            except NotFound as exc:
                missing = missing or exc
        assert missing is not None
        raise missing

    async def get(self, job_id: str) -> Job:
        return await self._by_id(job_id, lambda q: q.get(job_id))

    async def glance(self, job_id: str) -> tuple[object, ...]:
        return await self._by_id(job_id, lambda q: q.glance(job_id))

    async def retry(self, job_id: str) -> None:
        await self._by_id(job_id, lambda q: q.retry(job_id))

    async def delete(self, job_id: str) -> None:
        await self._by_id(job_id, lambda q: q.delete(job_id))

    async def cancel(self, job_id: str, by: str) -> bool:
        return await self._by_id(job_id, lambda q: q.cancel(job_id, by))

    async def cancel_where(self, where: CancelFilter, by: str, *, dry_run: bool = False) -> int:
        counts = [q.cancel_where(where, by, dry_run=dry_run) for q in self.shards]
        return sum(await asyncio.gather(*counts))

    async def list_by_status(self, status: Status, limit: int = 50, cursor: str = "") -> Page:
        """The shards' listings one after another; the cursor is an offset into all of them."""
        offset, limit = page_window(cursor, limit)
        totals = [(await q.list_by_status(status, 1)).total for q in self.shards]
        jobs: list[Job] = []
        start = consumed = 0
        for queue, total in zip(self.shards, totals, strict=True):
            local = offset + consumed - start
            if consumed < limit and 0 <= local < total:
                page = await queue.list_by_status(status, limit - consumed, str(local))
                jobs.extend(page.jobs)
                consumed += int(page.next_cursor or total) - local
                if page.next_cursor:  # this shard has more: the page is full, or cut by bytes
                    break
            start += total
        return Page.of(jobs, offset, consumed if consumed < limit else limit, sum(totals))

    async def stats(self) -> QueueStats:
        parts = await asyncio.gather(*(q.stats() for q in self.shards))
        values: dict[str, object] = {}
        for field in fields(QueueStats):
            each = [getattr(part, field.name) for part in parts]
            if field.name == "paused":
                values[field.name] = any(each)
            elif field.name == "workers":  # every worker process beats in every shard
                values[field.name] = max(each)
            else:
                values[field.name] = sum(each)
        return QueueStats(**values)  # type: ignore[arg-type]

    async def retry_all_failed(self, chunk: int = 500) -> int:
        return sum(await asyncio.gather(*(q.retry_all_failed(chunk) for q in self.shards)))

    async def timings(self) -> list[Histogram]:
        """Every shard's histograms, added up by name and labels."""
        added: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}
        for found in await asyncio.gather(*(q.timings() for q in self.shards)):
            for h in found:
                added.setdefault((h.name, h.labels), Series()).add(h.series)
        return [Histogram(name, labels, s) for (name, labels), s in sorted(added.items())]

    async def pause(self) -> None:
        await asyncio.gather(*(q.pause() for q in self.shards))

    async def resume(self) -> None:
        await asyncio.gather(*(q.resume() for q in self.shards))

    async def is_paused(self) -> bool:
        return any(await asyncio.gather(*(q.is_paused() for q in self.shards)))

    async def ping(self) -> None:
        await asyncio.gather(*(q.ping() for q in self.shards))

    async def server_info(self) -> ServerInfo:
        return await self.shards[0].server_info()

    async def fair_share(self, top: int = 10) -> FairShareView:
        """The shards' views summed per key. A key's work may span shards (keyed submissions go
        to their idempotency key's shard), so each shard lists up to MAX_TOP keys: the ranking
        is exact while no shard has more keys with work than that. `keys_waiting` counts a key
        once per shard that holds its waiting work: an upper bound."""
        parts = await asyncio.gather(*(q.fair_share(MAX_TOP) for q in self.shards))
        return merge_fair_shares(parts, top)

    async def set_quota(
        self,
        key: str,
        weight: float | None = None,
        rate: float | None = None,
        max_active: int | None = None,
        reset: bool = False,
    ) -> tuple[Quota, bool]:
        """The same quota in every shard (a key's work may be in any of them)."""
        results = await asyncio.gather(
            *(q.set_quota(key, weight, rate, max_active, reset) for q in self.shards)
        )
        return results[0]

    async def close(self) -> None:
        await self.shards[0].close()  # one client for all shards


def merge_fair_shares(parts: Sequence[FairShareView], top: int) -> FairShareView:
    """One view of several shards' views: keys summed by name, the `top` most waiting kept,
    the rest (and each shard's own "other") summed into "other"."""
    first = parts[0]
    merged: dict[str, KeyShare] = {}
    for part in parts:
        for share in part.keys:
            seen = merged.get(share.key)
            merged[share.key] = (
                share
                if seen is None
                else dataclasses.replace(
                    seen,
                    waiting=seen.waiting + share.waiting,
                    active=seen.active + share.active,
                    started=seen.started + share.started,
                )
            )
    ranked = sorted(merged.values(), key=lambda s: (-s.waiting, s.key))
    kept = ranked[: max(1, top)]

    def total(name: str) -> int:
        return sum(getattr(s, name) for p in parts for s in (*p.keys, p.other))

    other = KeyShare(
        "",
        total("waiting") - sum(s.waiting for s in kept),
        total("active") - sum(s.active for s in kept),
        total("started") - sum(s.started for s in kept),
        first.default,
    )
    quotas: dict[str, Quota] = {}
    for part in parts:
        quotas.update(part.quotas)
    return FairShareView(
        kept,
        other,
        sum(p.keys_waiting for p in parts),
        sum(p.waiting_high for p in parts),
        sum(p.waiting_normal for p in parts),
        sum(p.waiting_low for p in parts),
        first.default,
        dict(sorted(quotas.items())),
    )
