"""Small builders shared by the tests."""

from __future__ import annotations

from redis.asyncio import Redis

from feedback_queue.queue import Queue
from feedback_queue.settings import Settings
from feedback_queue.v1 import queue_pb2 as pb


def submission(content: str = "An essay about queues.", **fields: object) -> pb.Submission:
    fields.setdefault("submitter_id", "learner-1")
    return pb.Submission(content=content, **fields)  # type: ignore[arg-type]


# Environments that between them take every branch of Settings.from_env that reads variables.
_BRANCHES: list[dict[str, str]] = [
    {},
    {"REDIS_URL": "redis://h:1/0"},
    {"FBQ_SENTINEL_HOSTS": "h:1"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:1"},
]


class _Recording(dict[str, str]):
    """An environment that notes every variable asked for."""

    def __init__(self, values: dict[str, str], asked: set[str]) -> None:
        super().__init__(values)
        self.asked = asked

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)


def variables_read() -> set[str]:
    """Every environment variable Settings.from_env reads (NAME_FILE, the file form of each
    secret NAME, left out)."""
    asked: set[str] = set()
    for environ in _BRANCHES:
        Settings.from_env(_Recording(environ, asked))
    return {name for name in asked if name.removesuffix("_FILE") not in asked - {name}}


async def redis_ms(client: Redis) -> int:
    """Now, in ms, by the Redis server's clock (the clock that stamps and judges heartbeats)."""
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def silence(client: Redis, queue: Queue, worker: str, seconds: float) -> None:
    """Make `worker`'s last beat `seconds` old by Redis's clock, as a silent worker leaves it."""
    await client.zadd(queue.keys.workers, {worker: await redis_ms(client) - int(seconds * 1000)})


async def sneak_into_line(queue: Queue, client: Redis, job_id: str, key: str = "learner-1") -> None:
    """Put `job_id` first in line of `key`'s normal lane behind the queue's back, with the
    bookkeeping a script would do (a lane that gets work is ready; the counts follow): how an
    id that "found its way back" is staged. The record is left as it is."""
    k = queue.keys
    async with client.pipeline(transaction=True) as pipe:
        pipe.rpush(k.lane(2, key), job_id)
        pipe.zadd(k.ready(2), {key: 0}, nx=True)
        pipe.hincrby(k.fair, "waiting", 1)
        pipe.hincrby(k.fair, "w2", 1)
        await pipe.execute()


async def pull_from_line(queue: Queue, client: Redis, job_id: str, key: str = "learner-1") -> None:
    """Take `job_id` out of `key`'s normal lane behind the queue's back, with the bookkeeping a
    script would do: how a job that "went missing" from waiting is staged."""
    k = queue.keys
    assert await client.lrem(k.lane(2, key), 0, job_id) == 1
    async with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(k.fair, "waiting", -1)
        pipe.hincrby(k.fair, "w2", -1)
        pipe.llen(k.lane(2, key))
        *_, left = await pipe.execute()
    if not left:
        await client.zrem(k.ready(2), key)
