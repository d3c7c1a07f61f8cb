"""Start-up of a service: Redis must answer, or the process says why and exits.

A service given a Redis address never runs without it. The cause of the first failure is logged
at once; causes that may pass (connection refused, timeout, loading) are retried quietly for
FBQ_STARTUP_TIMEOUT, then the process exits with the last one. A misconfiguration (refused
credentials, a missing ACL permission, an untrusted server certificate, unloadable TLS files)
ends it at once: waiting will not fix it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from feedback_queue.errors import QueueMisconfigured, QueueUnavailable
from feedback_queue.sharded import QueueApi

log = logging.getLogger(__name__)

RETRY_EVERY = 0.5


async def require_redis(
    queue: QueueApi,
    patience: float,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Return once Redis answers a PING; raise a misconfiguration at once, else the last error
    after `patience` seconds."""
    started = monotonic()
    deadline = started + patience
    waiting = False
    while True:
        try:
            await queue.ping()
        except QueueMisconfigured:
            raise
        except QueueUnavailable as exc:
            if not waiting:
                log.warning("Redis does not answer yet, retrying for %gs: %s", patience, exc)
                waiting = True
            if monotonic() >= deadline:
                raise
            await sleep(RETRY_EVERY)
        else:
            if waiting:
                log.info("Redis answers after %.1fs", monotonic() - started)
            return
