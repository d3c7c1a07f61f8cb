"""What the Lua scripts answer, by name: every number a script returns is defined here, once.

The numbers are the wire format between `feedback_queue/scripts/*.lua` and the queue, so they
never change. `feedback_queue.scripts` generates the Lua constants from these enums, each member
as `<PREFIX>_<MEMBER>` with the prefix of `LUA_PREFIXES` (`Enqueued.QUEUE_FULL` is
`ENQ_QUEUE_FULL` in Lua); job statuses keep their bare names there (`WAITING` .. `CANCELLED`).
Counts (jobs acked, promoted, released, ...) are plain numbers and have no enum.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Final


class Enqueued(IntEnum):
    """enqueue.lua, per job: what became of it."""

    CREATED = 0
    DUPLICATE = 1  # an earlier job by the same idempotency key and payload
    REPLAY = 2  # this very id, already enqueued (a re-sent script)
    KEY_CONFLICT = -1  # the idempotency key was used with another payload
    ID_TAKEN = -2  # the id belongs to another payload
    QUEUE_FULL = -3
    RATE_LIMITED = -4  # the submitter is over its rate; the status field is the ms to wait
    PRINCIPAL_LIMITED = -5  # the principal is over its rate; the status field is the ms to wait


class Acked(IntEnum):
    """ack.lua and ack_take.lua, per job."""

    COMPLETED = 1
    ALREADY = 0  # already COMPLETED (a replayed call): nothing changed
    STALE = -1  # the token no longer holds the attempt (reaped, retried): nothing changed
    CANCELLED = -2  # the job was cancelled meanwhile: its attempt no longer counts


class Failed(IntEnum):
    """fail.lua, per job."""

    STALE = 0  # the token no longer holds the attempt (a replay, or reaped): nothing changed
    DELAYED = 1  # backed off into delayed
    DEAD = 2  # dead-lettered into failed
    CANCELLED = -1  # the job was cancelled meanwhile: nothing changed


class Retried(IntEnum):
    """retry.lua (admin retry), per id."""

    RETRIED = 1
    NOT_FOUND = 0
    NOT_FAILED = -1  # nothing changed


class Deleted(IntEnum):
    """delete.lua (admin delete)."""

    DELETED = 1
    NOT_FOUND = 0
    ACTIVE = -1  # nothing changed: let the worker finish


class Cancelled(IntEnum):
    """cancel.lua, per id."""

    CANCELLED = 1
    ALREADY = 0  # CANCELLED before (a replayed call): nothing changed
    FINAL = -1  # COMPLETED or FAILED: nothing changed
    NOT_FOUND = -2


class Held(IntEnum):
    """held.lua, per attempt a worker runs: may it go on?"""

    HELD = 1
    LOST = 0  # another attempt holds the job now (reaped, retried): stop, write nothing
    CANCELLED = -1  # cancelled: stop, write nothing


class Progressed(IntEnum):
    """progress.lua, per report."""

    OK = 1
    THROTTLED = 0  # too soon after the last accepted one: nothing changed
    LOST = -1  # the attempt no longer holds the job (reaped, retried): stop
    CANCELLED = -2  # the job was cancelled: stop


class Timed(IntEnum):
    """timing.lua, per batch of histogram counts."""

    ADDED = 1
    REPLAY = 0  # no newer than the last batch added (sent again after a lost reply): not added


class TakeState(IntEnum):
    """The state that take.lua, start.lua and ack_take.lua answer first; a positive state is
    not a member: it is the ms to wait while the global rate limit allows no start."""

    OK = 0
    PAUSED = -1


class Reaped(IntEnum):
    """reap.lua: a worker's jobs went back; a non-negative answer is how many."""

    BEAT_AGAIN = -1  # the worker beat again meanwhile: nothing changed


class Lease(IntEnum):
    """lock.lua: does the owner hold the housekeeping lease now?"""

    HELD = 1
    NOT_HELD = 0


LUA_PREFIXES: Final[Mapping[type[IntEnum], str]] = {
    Enqueued: "ENQ",
    Acked: "ACK",
    Failed: "FAIL",
    Retried: "RETRY",
    Deleted: "DEL",
    Cancelled: "CANCEL",
    Held: "HELD",
    Progressed: "PROG",
    Timed: "TIMED",
    TakeState: "TAKE",
    Reaped: "REAP",
    Lease: "LEASE",
}
