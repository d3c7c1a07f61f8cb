"""Cancellation: stop submissions by id, or every WAITING or DELAYED one a filter matches.

WAITING and DELAYED end CANCELLED at once. So does ACTIVE: the cancel revokes the running
attempt (its started entry, and with it the attempt's token, goes), so nothing its worker still
sends for it counts, and the worker learns of it by `held` and stops the processor
(scripts/lib/cancelling.lua, docs/guarantees.md). Every script here is replay-safe: a cancel
sent again answers ALREADY.
"""

from __future__ import annotations

from collections.abc import Sequence

from feedback_queue.errors import NotCancellable, NotFound
from feedback_queue.fairness import LEVELS
from feedback_queue.job import Status
from feedback_queue.outcomes import Cancelled, Held
from feedback_queue.queue.base import Arg, QueueBase
from feedback_queue.queue.values import CancelFilter
from feedback_queue.validation import validate_id

# How many ids one cancel_where call looks at: a few milliseconds of Redis's time.
WINDOW = 200


class Cancelling(QueueBase):
    async def cancel(self, job_id: str, by: str) -> bool:
        """Cancel one submission on behalf of `by` (kept in its record). True when this call
        cancelled it, False when it was CANCELLED already. NotFound when there is none;
        NotCancellable when it is COMPLETED or FAILED."""
        validate_id(job_id)
        [(outcome, status)] = await self.cancel_many([job_id], by)
        if outcome == Cancelled.NOT_FOUND:
            raise NotFound(job_id)
        if outcome == Cancelled.FINAL:
            raise NotCancellable(job_id, Status(status).name)
        return outcome == Cancelled.CANCELLED

    async def cancel_many(self, ids: Sequence[str], by: str) -> list[tuple[Cancelled, int]]:
        """Cancel each of `ids`: its outcome and its status now (0 when there is none)."""
        if not ids:
            return []
        args: list[Arg] = [self.now_arg(), self._retention_ms(), by or "anonymous", *ids]
        raw = await self._eval(self.scripts.cancel, self._cancelling_keys(), args)
        return [(Cancelled(int(raw[i])), int(raw[i + 1])) for i in range(0, len(raw), 2)]

    async def cancel_where(self, where: CancelFilter, by: str, *, dry_run: bool = False) -> int:
        """Cancel the WAITING and DELAYED submissions `where` matches; how many (a dry run
        counts them and cancels nothing).

        It walks each lane that may hold a match, then the delayed submissions, a window at a
        time: what matched when its window was looked at. A submission a worker takes meanwhile
        runs (cancel it by id), and one submitted meanwhile may be missed: run it again.
        """
        places: list[tuple[str, int, str]] = []
        if Status.WAITING in where.statuses:
            if where.fairness_key:
                places += [("lane", level, where.fairness_key) for level in LEVELS]
            else:
                places += [("lane", *self._lane_of(n)) for n, _ in await self.waiting_lanes()]
        if Status.DELAYED in where.statuses:
            places.append(("delayed", 0, ""))
        total = 0
        for place, level, key in places:
            offset = 0
            while True:
                args: list[Arg] = [self.now_arg(), self._retention_ms(), by or "anonymous"]
                args += [place, level, key, offset, WINDOW, where.submitter_id]
                args += [where.fairness_key, "1" if dry_run else "0"]
                matched, offset, seen = await self._eval(
                    self.scripts.cancel_where, self._cancelling_keys(), args
                )
                total += int(matched)
                if int(seen) < WINDOW:
                    break
        return total

    async def held(self, attempts: Sequence[tuple[str, str]]) -> list[Held]:
        """For each (job id, token) a worker runs: may it go on (HELD), or was it cancelled
        (CANCELLED) or taken from it (LOST)? Reads only."""
        if not attempts:
            return []
        k = self.keys
        args = [a for attempt in attempts for a in attempt]
        raw = await self._eval(self.scripts.held, [k.started, k.job_prefix], args)
        return [Held(int(o)) for o in raw]

    def _lane_of(self, name: str) -> tuple[int, str]:
        """The level and fairness key of lane `name`."""
        level, key = name[len(self.keys.lane_prefix) :].split(":", 1)
        return int(level), key

    def _cancelling_keys(self) -> list[str]:
        """The KEYS layout of cancel.lua and cancel_where.lua (lib/cancelling.lua)."""
        k = self.keys
        return [
            k.delayed,
            k.cancelled,
            k.stats,
            k.job_prefix,
            k.started,
            k.active_prefix,
            *k.lanes_block(),
        ]
