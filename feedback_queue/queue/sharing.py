"""Fair share, the admin's side: per-key quotas (editable at run time) and who waits most.

The scheduling itself is in the Lua scripts (scripts/lib/lanes.lua); see feedback_queue/fairness.py
for the model.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from feedback_queue.fairness import Quota, validate_key
from feedback_queue.job import parse_started
from feedback_queue.queue.base import QueueBase
from feedback_queue.queue.values import FairShareView, KeyShare

# How many keys `fair_share` lists at most, and how many own quotas it shows.
MAX_TOP = 1000
MAX_QUOTAS_LISTED = 1000


class Sharing(QueueBase):
    async def set_quota(
        self,
        key: str,
        weight: float | None = None,
        rate: float | None = None,
        max_active: int | None = None,
        reset: bool = False,
    ) -> tuple[Quota, bool]:
        """Change `key`'s quota (unset values keep the key's current ones, or the defaults);
        `reset` drops its own quota. Takes effect at the next start: the key's held lanes are
        looked at again at once. Returns the quota now in force and whether it is the key's own.
        InvalidSubmission for a bad key or value."""
        validate_key(key, "key")
        default = self.config.fairness.default
        change = ""
        if not reset:
            # Each given value is checked here (its bounds do not depend on the others); the
            # script merges them with the key's current quota, atomically.
            given = Quota(
                default.weight if weight is None else weight,
                default.rate if rate is None else rate,
                default.max_active if max_active is None else max_active,
            )
            change = given.encode_change(
                weight is not None, rate is not None, max_active is not None
            )
        args = [key, change, default.encode()]
        keys = [*self.keys.lanes_block(), self.keys.started]
        quota, _ = await self._eval(self.scripts.set_quota, keys, args)
        if not quota:
            return default, False
        return Quota.decode(quota.decode()), True

    async def fair_share(self, top: int = 10) -> FairShareView:
        """The `top` keys with the most waiting work (most first), the others summed, the
        waiting count per priority, and the quotas. Counted now from the lanes and the started
        entries (a start writes no per-key figure but the key's starts), in a few round trips,
        not atomically: each figure is as of its own read."""
        top = max(1, min(top, MAX_TOP))
        k = self.keys
        waiting: Counter[str] = Counter()
        for name, size in await self.waiting_lanes():
            waiting[name[len(k.lane_prefix) + 2 :]] += size
        listed = sorted(waiting, key=lambda key: (-waiting[key], key))[:top]

        async def read() -> list[Any]:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hmget(k.fair, "waiting", "n", "w1", "w2", "w3")
                pipe.hvals(k.started)
                pipe.hlen(k.quotas)
                if listed:
                    pipe.hmget(k.key_starts, listed)
                    pipe.hmget(k.quotas, listed)
                return list(await pipe.execute())

        fair, started_entries, own_quotas, *per_key = await self._call(read())
        starts, quotas_of = per_key or ([], [])
        total, started, high, normal, low = (int(v or 0) for v in fair)
        active = Counter(parse_started(entry).key for entry in started_entries)
        default = self.config.fairness.default
        shares = []
        for key, s, q in zip(listed, starts, quotas_of, strict=True):
            own = Quota.decode(q.decode()) if q else None
            shares.append(
                KeyShare(
                    key, waiting[key], active[key], int(s or 0), own or default, own is not None
                )
            )
        raw: dict[Any, Any]
        if own_quotas <= MAX_QUOTAS_LISTED:
            raw = await self._call(self.client.hgetall(k.quotas))
        else:
            scan: Any = self.client.hscan(k.quotas, 0, count=MAX_QUOTAS_LISTED)
            _, raw = await self._call(scan)
        quotas = {
            key.decode(): Quota.decode(q.decode())
            for key, q in list(raw.items())[:MAX_QUOTAS_LISTED]
        }
        other = KeyShare(
            "",
            total - sum(s.waiting for s in shares),
            len(started_entries) - sum(s.active for s in shares),
            started - sum(s.started for s in shares),
            default,
        )
        return FairShareView(shares, other, len(waiting), high, normal, low, default, quotas)
