"""The gateway's guard against idle and slow connections (slowloris).

uvicorn's h11 server arms no timer until a connection's first answer, and a byte of a request
head cancels its keep-alive timer: a socket that sends nothing, or half a request, is kept
forever, and about a thousand of them use up the process's open files, so honest calls fail.
`guarded_protocol` makes uvicorn's h11 protocol:

- close a connection that has not sent a whole request head within `header_timeout` of opening
  (or of its previous answer: a body trickled after the answer does not keep it open either);
  between requests uvicorn's keep-alive timeout (`idle_timeout`) applies as well, though any
  byte cancels that one;
- keep at most `max_connections` open: a connection beyond the cap closes the one that has
  waited longest for a request (an attacker's idle socket, not an honest call in flight), or
  itself when every other one is busy. Calls in flight are thus bounded by the cap too.

`fit_open_files` makes the process's open-file limit hold the cap (or lowers the cap).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from feedback_queue.settings import GatewayLimits

log = logging.getLogger(__name__)

# asyncio accepts up to `backlog` sockets at once before any of them is admitted (and closes
# one over the cap); those, and the process's own files, need room under the open-file limit.
BACKLOG = 128
SPARE_FILES = BACKLOG + 64
WARN_EVERY = 60.0


def fit_open_files(limits: GatewayLimits) -> int:
    """The connection cap this process can hold: the soft open-file limit is raised toward the
    hard one when the cap needs it; when even that is too low, a smaller cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = limits.max_connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return limits.max_connections
    return max(1, soft - SPARE_FILES)


def guarded_protocol(limits: GatewayLimits, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a request-head timeout and a cap on open connections."""

    class Guarded(H11Protocol):
        warned_at = float("-inf")

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.waiting_since = 0.0
            self.head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_head()
            if len(self.connections) > max_connections:
                self._make_room()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._await_head()

        @property
        def waiting(self) -> bool:
            """Open and answering nothing: no whole request head yet, or its answer sent (a
            client still trickling a body the route never reads is waiting too)."""
            answering = self.cycle is not None and not self.cycle.response_complete
            return not answering and not self.transport.is_closing()

        def _await_head(self) -> None:
            self._stop_head_timer()
            self.waiting_since = self.loop.time()
            self.head_timer = self.loop.call_later(limits.header_timeout, self._head_overdue)

        def _stop_head_timer(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _head_overdue(self) -> None:
            self.head_timer = None
            if self.waiting:
                self.transport.close()

        def _make_room(self) -> None:
            open_ = [c for c in self.connections if not c.transport.is_closing()]
            if len(open_) <= max_connections:
                return  # the ones over the cap are closing already
            idle = [c for c in open_ if isinstance(c, Guarded) and c.waiting]
            victim = min(idle, key=lambda c: c.waiting_since) if idle else self
            victim.transport.close()
            now = self.loop.time()
            if now - Guarded.warned_at >= WARN_EVERY:
                Guarded.warned_at = now
                log.warning(
                    "%d connections open, the cap (FBQ_GATEWAY_MAX_CONNECTIONS) is %d: closing "
                    "those that waited longest for a request (logged once a minute)",
                    len(open_),
                    max_connections,
                )

    return Guarded
