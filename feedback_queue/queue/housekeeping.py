"""Housekeeping, run by one worker of the fleet at a time (under the `hold_lease` lease):
promote due delayed jobs, reap the processing lists of silent workers, sweep expired keys."""

from __future__ import annotations

from feedback_queue.outcomes import Lease, Reaped
from feedback_queue.queue.base import Arg, QueueBase, strs

# How long the reaper watches a reaped worker's processing list for ids it took after (ms).
REAPED_WATCH_MS = 24 * 3600 * 1000


class Housekeeping(QueueBase):
    async def promote_due(self, limit: int = 1000) -> int:
        """Move delayed jobs whose time has come to their lanes; returns how many."""
        k = self.keys
        args = [self.now_arg(), limit]
        keys = [k.delayed, k.job_prefix, *k.lanes_block()]
        return int(await self._eval(self.scripts.promote, keys, args))

    async def reap(self) -> int:
        """Return the jobs of workers silent for longer than the grace period; returns how many.

        Silence is judged by Redis's clock, which also stamped the beats: a worker host whose
        clock is off is judged like any other. After a gap in the fleet's beats (an outage, a
        restart, a failover) nobody is reaped for one grace (lib/watch.lua). The reaper beats
        first.
        """
        k = self.keys
        grace = int(self.config.heartbeat_grace * 1000)
        silent = strs(await self._eval(self.scripts.reapable, [k.workers, k.reaper], [grace]))
        return sum([await self.reap_worker(worker) for worker in silent])

    async def reap_worker(self, worker: str) -> int:
        """Return `worker`'s processing list to waiting (reap.lua), unless Redis heard it within
        the grace meanwhile; returns how many jobs went back."""
        keys = self.reap_keys(worker)
        grace = int(self.config.heartbeat_grace * 1000)
        args: list[Arg] = [self.now_arg(), worker, grace, self.config.max_attempts]
        n = int(await self._eval(self.scripts.reap, keys, args))
        return 0 if n == Reaped.BEAT_AGAIN else n

    def reap_keys(self, worker: str) -> list[str]:
        """The KEYS layout of reap.lua for `worker`."""
        k = self.keys
        return [
            k.workers,
            k.active(worker),
            k.failed,
            k.stats,
            k.job_prefix,
            k.started,
            k.reaped,
            *k.lanes_block(),
            k.leases,
            k.progress,
        ]

    async def reap_orphans(self) -> int:
        """Return the processing lists of reaped workers that hold ids yet are not registered
        again (orphans.lua); returns how many jobs went back.

        A list left by a worker reaped while frozen, holding ids nobody will reap, is watched by
        its name (no SCAN) for REAPED_WATCH_MS after the reap. Run once a sweep interval, so a
        job left there waits at most that much longer.
        """
        k = self.keys
        keys = [k.workers, k.reaped, k.active_prefix]
        orphans = strs(await self._eval(self.scripts.orphans, keys, [REAPED_WATCH_MS]))
        return sum([await self.reap_worker(worker) for worker in orphans])

    async def adopt_waiting(self, batch: int = 1000) -> int:
        """Move the ids of a waiting list left by a version before lanes into their lanes;
        returns how many. Once it is gone, a call costs one RPOP of a missing key."""
        k = self.keys
        keys = [k.legacy_waiting, k.job_prefix, *k.lanes_block()]
        moved = 0
        while True:
            n, left = await self._eval(self.scripts.adopt_waiting, keys, [batch])
            moved += int(n)
            if not int(left):
                return moved

    async def hold_lease(self, name: str, owner: str, lease: float) -> bool:
        """Take or renew the lease `name` for `owner` for `lease` seconds; 0 gives it up."""
        args: list[Arg] = [owner, max(int(lease * 1000), 0)]
        held = await self._eval(self.scripts.lock, [self.keys.lock(name)], args)
        return int(held) == Lease.HELD

    async def sweep(self, batch: int = 1000) -> tuple[int, int]:
        """Forget every expired idempotency key and trim the completed index; returns how many
        of each. Then forget the start counts of idle fairness keys (`forget_idle_keys`).

        One sweep keeps up with any rate: it calls sweep.lua (at most `batch` keys and `batch`
        index entries per call, so no call holds Redis for more than a few milliseconds) until
        a call comes back short of `batch`. Each keyed submit costs, once its TTL is over, one
        entry of a ZRANGEBYSCORE, an HDEL and a ZREM (each O(log N) in the index) inside a call
        shared with `batch` - 1 others: at 50 keyed submits/s a minute's 3,000 keys take three
        calls. Expiry is judged by Redis's clock, which also stamped the keys.
        """
        batch = max(batch, 1)  # each full batch shrinks what is left: the loop ends
        k = self.keys
        now, retention = self.now_arg(), int(self.config.retention * 1000)
        cancelled_kept = max(retention, int(self.config.idempotency_ttl * 1000))
        grace = int(self.config.heartbeat_grace * 1000)
        forgotten = trimmed = 0
        while True:
            keys, done, cancels, leases = await self._eval(
                self.scripts.sweep,
                [k.idem, k.idem_expiry, k.completed, k.cancelled, k.leases, k.progress],
                [now, retention, batch, cancelled_kept, grace],
            )
            forgotten, trimmed = forgotten + int(keys), trimmed + int(done) + int(cancels)
            if max(int(keys), int(done), int(cancels), int(leases)) < batch:
                break
        await self.forget_idle_keys(batch)
        return forgotten, trimmed

    async def forget_idle_keys(self, batch: int = 1000) -> int:
        """Forget the start counts of fairness keys with nothing waiting
        (forget_idle.lua), one scan of key-starts in steps of about `batch`; returns how many."""
        cursor, forgotten = "0", 0
        while True:
            raw_cursor, gone = await self._eval(
                self.scripts.forget_idle, self.keys.lanes_block(), [cursor, batch]
            )
            forgotten += int(gone)
            cursor = raw_cursor.decode() if isinstance(raw_cursor, bytes) else str(raw_cursor)
            if cursor == "0":
                return forgotten
