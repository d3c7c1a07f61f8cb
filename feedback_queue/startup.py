"""Start-up of a service: Redis must answer, or the process says why and exits.

A service given a Redis address never runs without it: after FBQ_STARTUP_TIMEOUT of trying it
exits with the cause (connection refused, TLS, ...) and the variable to check. Refused
credentials end it at once: waiting will not fix them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from feedback_queue.errors import QueueAuthError, QueueUnavailable
from feedback_queue.sharded import QueueApi


async def require_redis(
    queue: QueueApi,
    patience: float,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Return once Redis answers a PING; raise its last error after `patience` seconds."""
    deadline = monotonic() + patience
    while True:
        try:
            await queue.ping()
            return
        except QueueAuthError:
            raise
        except QueueUnavailable:
            if monotonic() >= deadline:
                raise
            await sleep(0.5)
