"""`fbq check`'s Redis side: read a queue's snapshot, check it, and repair what is safe.

The snapshot is read without KEYS, in a few round trips: one pipeline for the lists, sets and
the `started` hash; SCAN `{fbq:Q}:*` on the node that holds the queue's slot (under Redis
Cluster every key of one queue is on that node) for the processing lists and the job records;
one pipeline for the processing lists; one for the records (MGET in chunks). SCAN costs one
round trip per 1,000 keys of the queue: fine for an operator's tool, not for a hot path.

It is not atomic: the queue moves on while it is read, and a job taken between two reads can
look out of place. So a snapshot that shows violations is read again, and only those seen both
times are reported (`check`). The repairs are Lua scripts that re-check, atomically, the state
they fix (reap.lua, requeue_lost.lua, drop_started.lua). The reaper itself watches the lists of the
workers it reaped (`Housekeeping.reap_orphans`); `--repair` hands back any orphan list at once.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster

from feedback_queue.check import (
    Kind,
    Snapshot,
    Violation,
    find_violations,
)
from feedback_queue.connection import translated
from feedback_queue.fairness import LEVELS
from feedback_queue.job import parse_started
from feedback_queue.queue.base import QueueBase
from feedback_queue.queue.housekeeping import Housekeeping
from feedback_queue.record import HEADER_SIZE, VERSION

SCAN_COUNT = 1000
MGET_CHUNK = 1000
_GLOB = "\\*?[]"


@dataclass(frozen=True)
class Report:
    """What a check found: how many job records it saw, and the violations seen twice."""

    jobs: int
    violations: list[Violation]


async def check(queue: QueueBase) -> Report:
    """The violations of `queue`, each confirmed by a second snapshot."""
    first = await read_snapshot(queue)
    found = find_violations(first)
    if not found:
        return Report(len(first.statuses), [])
    seen = {v.key for v in found}
    second = await read_snapshot(queue)
    again = [v for v in find_violations(second) if v.key in seen]
    return Report(len(second.statuses), again)


async def repair(queue: Housekeeping, violations: Iterable[Violation]) -> int:
    """Fix the repairable `violations` through scripts that re-check each; returns how many
    jobs or entries they changed. Check again afterwards to see what remains."""
    k = queue.keys
    todo = list(violations)
    changed = 0
    for v in todo:
        if v.kind == Kind.ORPHAN_LIST:
            changed += await queue.reap_worker(v.subject)
    lost = [v.subject for v in todo if v.kind == Kind.LOST_WAITING]
    if lost:
        lists = [k.active(w) for w in await _processing_workers(queue)]
        keys = [k.delayed, k.failed, k.job_prefix, *k.lanes_block(), *lists]
        changed += int(await queue._eval(queue.scripts.requeue_lost, keys, lost))
    stale = [v.subject for v in todo if v.kind == Kind.STALE_STARTED]
    if stale:
        keys = [k.started, k.job_prefix, *k.lanes_block()]
        changed += int(await queue._eval(queue.scripts.drop_started, keys, stale))
    if any(v.kind in (Kind.UNLISTED_LANE, Kind.COUNTS) for v in todo):
        async with translated(queue.address):
            _, _, lanes = await _scan(queue)
        keys = [*k.lanes_block(), k.started]
        changed += int(await queue._eval(queue.scripts.recount, keys, lanes))
    return changed


async def read_snapshot(queue: QueueBase) -> Snapshot:
    """Everything the invariants are about, read in a few round trips (not atomically)."""
    k, client = queue.keys, queue.client
    async with translated(queue.address):
        async with client.pipeline(transaction=False) as pipe:
            pipe.zrange(k.workers, 0, -1)
            pipe.zrange(k.delayed, 0, -1)
            pipe.zrange(k.failed, 0, -1)
            pipe.zrange(k.completed, 0, -1)
            pipe.zrange(k.cancelled, 0, -1)
            pipe.hgetall(k.started)
            for level in LEVELS:
                pipe.zrange(k.ready(level), 0, -1)
            pipe.zrange(k.held, 0, -1)
            pipe.hgetall(k.fair)
            pipe.hgetall(k.key_busy)
            workers, delayed, failed, completed, cancelled, started, *fair = await pipe.execute()
        ready = {level: frozenset(_strs(keys)) for level, keys in zip(LEVELS, fair, strict=False)}
        held, counters, key_busy = fair[len(LEVELS) :]
        lists, records, lanes = await _scan(queue)
        async with client.pipeline(transaction=False) as pipe:
            for lane in lanes:
                pipe.lrange(lane, 0, -1)
            in_lanes = dict(zip(lanes, await pipe.execute(), strict=True))
        waiting = [i for ids in in_lanes.values() for i in ids]
        registered = _strs(workers)
        holders = sorted(set(registered) | lists)
        async with client.pipeline(transaction=False) as pipe:
            for worker in holders:
                pipe.lrange(k.active(worker), 0, -1)
            active = {w: _strs(ids) for w, ids in zip(holders, await pipe.execute(), strict=True)}
        entries = {i.decode(): parse_started(e) for i, e in started.items()}
        snapshot = Snapshot(
            waiting=_strs(waiting),
            active={w: ids for w, ids in active.items() if ids},
            workers=frozenset(registered),
            delayed=frozenset(_strs(delayed)),
            failed=frozenset(_strs(failed)),
            completed=frozenset(_strs(completed)),
            cancelled=frozenset(_strs(cancelled)),
            started={i: entry.worker for i, entry in entries.items()},
            lanes={_lane(k.lane_prefix, name): len(ids) for name, ids in in_lanes.items() if ids},
            ready=ready,
            held=frozenset(_lane("", m.decode()) for m in held),
            counters={f.decode(): int(float(v)) for f, v in counters.items()},
            key_busy={key.decode(): int(n) for key, n in key_busy.items()},
            counted_keys=Counter(e.key for e in entries.values() if e.counted),
        )
        ids = sorted(snapshot.ids | records)
        statuses: dict[str, int | None] = {}
        async with client.pipeline(transaction=False) as pipe:
            chunks = [ids[i : i + MGET_CHUNK] for i in range(0, len(ids), MGET_CHUNK)]
            for chunk in chunks:
                # MGET spelled as a command: a cluster pipeline refuses .mget() (steering.py).
                pipe.execute_command("MGET", *(k.job(i) for i in chunk))
            for chunk, raws in zip(chunks, await pipe.execute(), strict=True):
                for job_id, raw in zip(chunk, raws, strict=True):
                    if raw is not None:
                        statuses[job_id] = _status(raw)
    return dataclasses.replace(snapshot, statuses=statuses)


async def _processing_workers(queue: QueueBase) -> set[str]:
    """Every worker with a processing list or a registration, as of now."""
    async with translated(queue.address):
        workers = _strs(await queue.client.zrange(queue.keys.workers, 0, -1))
        lists, _, _ = await _scan(queue)
    return set(workers) | lists


async def _scan(queue: QueueBase) -> tuple[set[str], set[str], list[str]]:
    """SCAN the queue's keys on the node holding them: (workers with a processing list,
    ids with a record, the lanes of waiting work)."""
    k = queue.keys
    pattern = "".join("\\" + c if c in _GLOB else c for c in k.tag) + ":*"
    client: Any = queue.client
    target: dict[str, Any] = {}
    if isinstance(client, RedisCluster):
        await client.initialize()
        target["target_nodes"] = client.get_node_from_key(k.fair)
    workers: set[str] = set()
    lanes: list[str] = []
    ids: set[str] = set()
    cursor = 0
    while True:
        reply = await client.execute_command(
            "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT, **target
        )
        if isinstance(reply, dict):  # a cluster client answers per node
            (reply,) = reply.values()
        cursor, keys = int(reply[0]), reply[1]
        for raw in keys:
            key = raw.decode()
            if key.startswith(k.active_prefix):
                workers.add(key.removeprefix(k.active_prefix))
            elif key.startswith(k.job_prefix):
                ids.add(key.removeprefix(k.job_prefix))
            elif key.startswith(k.lane_prefix):
                lanes.append(key)
        if cursor == 0:
            return workers, ids, lanes


def _lane(prefix: str, name: str) -> tuple[int, str]:
    """(level, key) of a lane's name, or of a held member ("<level>:<key>") with prefix ""."""
    rest = name.removeprefix(prefix) if prefix else name
    return int(rest[0]), rest[2:]


def _status(raw: bytes) -> int | None:
    """The status byte of a record, or None when it is not a record of ours."""
    if len(raw) < HEADER_SIZE or raw[0] >> 4 != VERSION:
        return None
    return raw[1]


def _strs(values: Any) -> list[str]:
    return [v.decode() for v in values]
