"""The queue's Lua scripts, one file each, loaded once with `importlib.resources`.

Every script is sent as the shared prelude `record.lua` (record codec, status numbers) followed
by its own file. `Scripts.register` binds them to a client: redis-py's `AsyncScript` runs
EVALSHA and falls back to SCRIPT LOAD on NOSCRIPT (after a Redis restart or failover).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

PRELUDE = "record.lua"


@cache
def source(name: str) -> str:
    """The full text sent to Redis for script `name` (without `.lua`)."""
    folder = resources.files(__package__)
    prelude = folder.joinpath(PRELUDE).read_text(encoding="utf-8")
    return prelude + "\n" + folder.joinpath(f"{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Scripts:
    """One registered script per field, named after its `.lua` file."""

    enqueue: AsyncScript
    take: AsyncScript
    ack_take: AsyncScript
    start: AsyncScript
    ack: AsyncScript
    fail: AsyncScript
    promote: AsyncScript
    reap: AsyncScript
    release: AsyncScript
    retry: AsyncScript
    delete: AsyncScript
    stats: AsyncScript
    sweep: AsyncScript
    lock: AsyncScript

    @classmethod
    def register(cls, client: Redis) -> Scripts:
        return cls(**{f.name: client.register_script(source(f.name)) for f in fields(cls)})
