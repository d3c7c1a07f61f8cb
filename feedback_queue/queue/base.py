"""What every part of the queue shares: the Redis client, the config, keys and scripts.

The queue's calls live in modules by path (producing, consuming, housekeeping, steering), each
a mixin over `QueueBase`; `feedback_queue.queue.Queue` puts them together. Every call to Redis
goes through `_eval` (a script) or `_call` (any other command), which translate redis-py's
errors into ours (connection.py) in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from feedback_queue.connection import translated
from feedback_queue.fairness import LEVELS
from feedback_queue.keys import Keys
from feedback_queue.scripts import Scripts
from feedback_queue.settings import QueueConfig

# What redis-py accepts as a script argument.
Arg = bytes | str | int | float
T = TypeVar("T")


@dataclass
class QueueBase:
    """One named queue on one Redis client."""

    client: Redis
    config: QueueConfig = field(default_factory=QueueConfig)
    # Where Redis is, for error messages (never with credentials).
    address: str = "redis"
    # One of a sharded queue's shards starts its ids with this character (sharded.py).
    id_mark: str = ""
    # The queue's time is Redis's clock, read inside every script (scripts/lib/clock.lua). A
    # test may fix it instead, to age delays, backoffs and expiries without waiting: then each
    # script gets this clock's time. The services never set it.
    clock: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        self.keys = Keys(self.config.name)
        self.scripts = Scripts.register(self.client)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def max_attempts(self) -> int:
        return self.config.max_attempts

    async def close(self) -> None:
        """Close the Redis client (its connection pool); the queue is unusable afterwards."""
        await self.client.aclose()

    def now_arg(self) -> int:
        """A script's "now" argument: 0, for Redis's clock, unless a test's clock is set."""
        return int(self.clock() * 1000) if self.clock else 0

    def _retention_ms(self) -> int:
        """How long (ms) a finished record is kept: FBQ_RETENTION."""
        return max(int(self.config.retention * 1000), 1)

    async def _eval(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run one of our scripts; Redis's errors come back as ours."""
        async with translated(self.address):
            return await script(keys=keys, args=args)

    async def _call(self, command: Awaitable[T]) -> T:
        """Await one Redis command (made, not yet sent); Redis's errors come back as ours."""
        async with translated(self.address):
            return await command

    async def _on_our_node(self, command: str) -> Any:
        """A keyless command, on the node that holds this queue's keys under Redis Cluster
        (elsewhere, on the one server)."""
        client: Any = self.client
        async with translated(self.address):
            if isinstance(client, RedisCluster):
                await client.initialize()  # learns the slots on first use; then does nothing
                node = client.get_node_from_key(self.keys.fair)
                return await client.execute_command(command, target_nodes=node)
            return await client.execute_command(command)

    async def waiting_lanes(self) -> list[tuple[str, int]]:
        """Every lane with waiting work and its length, in about the order they start: by
        level, the ready keys by their turn, then the held ones. Redis's errors come back as
        ours (several commands: every caller would otherwise have to wrap it)."""
        k, c = self.keys, self.client
        names: list[str] = []
        held = {1: [], 2: [], 3: []}  # type: dict[int, list[str]]
        async with translated(self.address):
            for member in strs(await c.zrange(k.held, 0, -1)):
                held[int(member[0])].append(member[2:])
            for level in LEVELS:
                keys = strs(await c.zrange(k.ready(level), 0, -1)) + held[level]
                names += [k.lane(level, key) for key in keys]
            async with c.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.llen(name)
                lengths = await pipe.execute()
        return [(n, int(size)) for n, size in zip(names, lengths, strict=True) if size]


def strs(values: Any) -> list[str]:
    """Decode a list reply (our clients answer bytes)."""
    return [v.decode() for v in values]


def text(value: bytes | str) -> str:
    """One reply value as text (our clients answer bytes)."""
    return value.decode() if isinstance(value, bytes) else value
