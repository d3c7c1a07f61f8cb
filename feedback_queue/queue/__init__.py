"""The queue API over Redis: the only code that talks to Redis about jobs.

Life of a job (docs/data-model.md): `enqueue` writes its record and LPUSHes its id to `waiting`
(producing.py); `reserve` moves ids into the worker's own processing list and marks them ACTIVE,
`ack` completes them, `fail` backs off into `delayed` or dead-letters into `failed`
(consuming.py); `promote_due` brings due delayed jobs back and `reap` returns the processing
lists of workers whose heartbeat stopped (housekeeping.py); the admin reads and steers
(steering.py) and cancels (cancelling.py). Every rule is in the Lua scripts
(feedback_queue/scripts), and every time they read is Redis's clock (scripts/lib/clock.lua): no
two hosts' clocks are ever compared. Only tests set a `clock`, to age delays and backoffs
without waiting.
"""

from __future__ import annotations

from redis.asyncio import Redis

from feedback_queue.queue.base import Arg
from feedback_queue.queue.cancelling import Cancelling
from feedback_queue.queue.consuming import Consuming
from feedback_queue.queue.housekeeping import Housekeeping
from feedback_queue.queue.producing import Producing
from feedback_queue.queue.sharing import Sharing
from feedback_queue.queue.steering import Steering
from feedback_queue.queue.values import (
    NOBODY,
    CancelFilter,
    EnqueueResult,
    Failure,
    FairShareView,
    KeyShare,
    Owner,
    Page,
    QueueStats,
    ServerInfo,
    Taken,
    page_window,
)
from feedback_queue.settings import Settings

__all__ = [
    "NOBODY",
    "Arg",
    "CancelFilter",
    "EnqueueResult",
    "Failure",
    "FairShareView",
    "KeyShare",
    "Owner",
    "Page",
    "Queue",
    "QueueStats",
    "ServerInfo",
    "Taken",
    "page_window",
]


class Queue(Producing, Consuming, Housekeeping, Steering, Sharing, Cancelling):
    """One named queue on one Redis client: `Queue(client, QueueConfig(...))`."""

    @classmethod
    def from_settings(cls, settings: Settings, client: Redis) -> Queue:
        """A queue configured as `settings` says."""
        return cls(client, settings.queue, address=settings.redis.address)
