"""What a SubmitStream reads ahead of its writes, bounded by bytes and by count.

The reader `put`s each request with its size and waits while the stream holds `max_bytes`
already (or `max_items` unread requests); the writer `take`s up to a batch, and `release`s the
batch's bytes once it is written, so a batch in flight to Redis still counts. A stream holding
nothing takes one request whatever its size (the message limit bounds it). While the reader
waits, gRPC stops reading the stream and HTTP/2 flow control slows the client down: memory per
stream stays near `max_bytes` however fast a client sends (issue #21, finding 3).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadAhead(Generic[T]):
    """One reader, one writer, one event loop: two events instead of a lock (per item, on the
    hot path of every stream)."""

    def __init__(self, max_bytes: int, max_items: int = 1024) -> None:
        self.max_bytes = max_bytes
        self.max_items = max_items
        self.held = 0  # bytes read and not yet released: unread, or in the batch being written
        self._items: deque[tuple[T, int]] = deque()
        self._room = asyncio.Event()  # set when something was taken or released
        self._filled = asyncio.Event()  # set when something was put

    def _room_for(self, size: int) -> bool:
        if self.held == 0:
            return True
        return len(self._items) < self.max_items and self.held + size <= self.max_bytes

    async def put(self, item: T, size: int = 0) -> None:
        """Add `item` of `size` bytes once there is room for it."""
        while not self._room_for(size):
            self._room.clear()
            await self._room.wait()
        self._items.append((item, size))
        self.held += size
        self._filled.set()

    async def take(self, most: int) -> list[tuple[T, int]]:
        """At least one and at most `most` items with their sizes, oldest first."""
        while not self._items:
            self._filled.clear()
            await self._filled.wait()
        taken = [self._items.popleft() for _ in range(min(most, len(self._items)))]
        self._room.set()
        return taken

    async def release(self, size: int) -> None:
        """The writer is done with `size` bytes of taken items."""
        self.held -= size
        self._room.set()
