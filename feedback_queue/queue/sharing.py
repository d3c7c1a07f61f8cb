"""Fair share, the admin's side: per-key quotas (editable at run time) and who waits most.

The scheduling itself is in the Lua scripts (scripts/lib/lanes.lua); see feedback_queue/fairness.py
for the model.
"""

from __future__ import annotations

from feedback_queue.fairness import Quota, validate_key
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
        quota, _ = await self._eval(self.scripts.set_quota, self.keys.lanes_block(), args)
        if not quota:
            return default, False
        return Quota.decode(quota.decode()), True

    async def fair_share(self, top: int = 10) -> FairShareView:
        """The `top` keys with the most waiting work (most first), the others summed, the
        waiting count per priority, and the quotas."""
        top = max(1, min(top, MAX_TOP))
        k = self.keys
        raw = await self._eval(
            self.scripts.fair_share,
            k.lanes_block(),
            [top, MAX_QUOTAS_LISTED],
        )
        # keys_waiting, total waiting, total active, total started, high, normal, low,
        # n listed, then per listed key: key, waiting, active, started, quota ('' for none),
        # then the own quotas as key, quota pairs.
        keys_waiting, waiting, active, started, high, normal, low, listed = (
            int(v) for v in raw[:8]
        )
        default = self.config.fairness.default
        shares, at = [], 8
        for _ in range(listed):
            key, w, a, s, q = raw[at : at + 5]
            at += 5
            own = Quota.decode(q.decode()) if q else None
            shares.append(
                KeyShare(key.decode(), int(w), int(a), int(s), own or default, own is not None)
            )
        quotas = {
            raw[i].decode(): Quota.decode(raw[i + 1].decode()) for i in range(at, len(raw), 2)
        }
        other = KeyShare(
            "",
            waiting - sum(s.waiting for s in shares),
            active - sum(s.active for s in shares),
            started - sum(s.started for s in shares),
            default,
        )
        return FairShareView(shares, other, keys_waiting, high, normal, low, default, quotas)
