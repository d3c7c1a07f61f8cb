"""Fair share among fairness keys, each figure beside the same run's plain FIFO.

    .venv/bin/python -m benchmarks.fairness                 (the figures of docs/fairness.md)
    .venv/bin/python -m benchmarks.fairness --keys 20 --smallest 2 --weighted-backlog 300 \
        --probe-backlog 3000 --probes 10 --drain-jobs 2000 --memory-jobs 2000   (a smoke run)

Starts its own redis-server (AOF on, appendfsync everysec, as the embedded default runs, but no
automatic AOF rewrite: its fork would land in one drain and not the other). The
consumers are asyncio tasks in this process calling the Queue API directly (take / ack_take), no
gRPC and no worker process: what is measured is the queue's scheduling. The baseline of every
measure is the same case on a queue with Fairness(source="none"), one shared key, which is
plain first in, first out, measured in the same run:
  a. fairness: `--keys` keys whose backlogs spread geometrically from `--smallest` to
     `--skew` times that, enqueued in a shuffled order; Jain's index of the starts per key over
     the busy period (the starts until the first key has no waiting work left)
  b. weights 1:2:4 (set_quota) on three keys of `--weighted-backlog` jobs each: each key's share
     of the starts until the first of them runs out
  c. a key's wait behind another key's backlog of `--probe-backlog`: while `--consumers`
     consumers drain it, one job from a fresh key every `--probe-interval` seconds; its wait is
     from enqueued to started, both by Redis's clock
  d. drain throughput of `--drain-jobs` jobs over `--keys` keys, `--consumers` consumers each
     looping ack_take of `--count`; median of `--rounds` rounds, fair and FIFO interleaved
  e. Redis bytes per waiting job (200-byte submissions over `--keys` keys), on a fresh server
     without AOF (used_memory counts the AOF buffers too)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from benchmarks.common import PAYLOAD_BYTES
from feedback_queue.connection import create_client
from feedback_queue.errors import QueueError
from feedback_queue.fairness import Fairness
from feedback_queue.job import Job
from feedback_queue.queue import Queue
from feedback_queue.settings import QueueConfig, RedisSettings
from feedback_queue.up.embedded import EmbeddedRedis, find_server_binary
from feedback_queue.v1 import queue_pb2 as pb

# The AOF grows by tens of MB a case; a rewrite's fork and child would take a core of the two
# in the middle of whichever drain crossed the threshold, so the server never rewrites.
NO_AOF_REWRITE = ("--auto-aof-rewrite-percentage", "0")


def fair_of(args: argparse.Namespace) -> Fairness:
    """The default fair share (the key is the submitter_id, every key of weight 1), with the
    quantum of `--quantum`."""
    return Fairness(quantum=args.quantum)


FIFO = Fairness(source="none")
# Today's bytes per waiting job (docs/performance.md) and the margin issue 19 allows.
MEMORY_BEFORE = 332
WEIGHTS = {"weight-1": 1.0, "weight-2": 2.0, "weight-4": 4.0}


def submission(key: str) -> pb.Submission:
    """A submission of submitter (so fairness key) `key`, PAYLOAD_BYTES long serialized."""
    sub = pb.Submission(submitter_id=key, content="")
    sub.content = "x" * (PAYLOAD_BYTES - len(sub.SerializeToString()) - 3)
    return sub


def key_names(count: int) -> list[str]:
    """`count` keys of one length, so every submission is the same size."""
    return [f"key-{i:05d}" for i in range(count)]


async def enqueue(queue: Queue, keys: Sequence[str]) -> list[str]:
    """One job for each entry of `keys` (a key may repeat), in that order; their ids.

    A fresh Submission per key and queue: the queue fills in fairness_key of the objects."""
    subs = {key: submission(key) for key in set(keys)}
    results = await queue.enqueue_many([(subs[key], 0.0) for key in keys])
    ids = []
    for result in results:
        if isinstance(result, QueueError):
            raise result
        ids.append(result.id)
    return ids


def fresh_queue(client: Redis, name: str, fairness: Fairness) -> Queue:
    return Queue(client, QueueConfig(name=name, fairness=fairness))


async def starts_until_a_key_runs_out(
    queue: Queue, key_of: dict[str, str], count: int
) -> Counter[str]:
    """Starts per key with one consumer, up to the start of the first key's last job: the busy
    period, in which every key still has waiting work. One consumer, so the order is exact."""
    left = Counter(key_of.values())
    started: Counter[str] = Counter()
    acks: list[tuple[str, str, str]] = []
    while True:
        _, taken = await queue.ack_take("bench-fair", acks, count)
        if not taken.jobs:
            raise RuntimeError("the queue ran dry before any key ran out")
        acks = [(job.id, job.token, "") for job in taken.jobs]
        for job in taken.jobs:
            key = key_of[job.id]
            started[key] += 1
            left[key] -= 1
            if not left[key]:
                await queue.ack("bench-fair", acks)
                return started


def jain(values: Sequence[float]) -> float:
    """Jain's fairness index: 1 when all are equal, 1/n when one has everything."""
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


async def bench_jain(client: Redis, args: argparse.Namespace, fairness: Fairness) -> float:
    await client.flushdb()
    queue = fresh_queue(client, "bench-jain", fairness)
    keys = key_names(args.keys)
    spread = [args.skew ** (i / max(len(keys) - 1, 1)) for i in range(len(keys))]
    backlog = {key: round(args.smallest * s) for key, s in zip(keys, spread, strict=True)}
    order = [key for key, jobs in backlog.items() for _ in range(jobs)]
    random.Random(19).shuffle(order)
    ids = await enqueue(queue, order)
    started = await starts_until_a_key_runs_out(
        queue, dict(zip(ids, order, strict=True)), args.count
    )
    return jain([started[key] for key in keys])


async def bench_weights(
    client: Redis, args: argparse.Namespace, fairness: Fairness
) -> dict[str, float]:
    await client.flushdb()
    queue = fresh_queue(client, "bench-weights", fairness)
    for key, weight in WEIGHTS.items():
        await queue.set_quota(key, weight=weight)
    order = [key for _ in range(args.weighted_backlog) for key in WEIGHTS]
    ids = await enqueue(queue, order)
    started = await starts_until_a_key_runs_out(
        queue, dict(zip(ids, order, strict=True)), args.count
    )
    total = sum(started.values())
    return {key: started[key] / total for key in WEIGHTS}


async def consume(
    queue: Queue, worker: str, count: int, seen: Callable[[list[Job]], None], done: asyncio.Event
) -> None:
    """ack_take in a loop with a no-op processor until the queue is empty and `done` is set."""
    acks: list[tuple[str, str, str]] = []
    while True:
        _, taken = await queue.ack_take(worker, acks, count)
        acks = [(job.id, job.token, "") for job in taken.jobs]
        if taken.jobs:
            seen(taken.jobs)
        elif done.is_set():
            return
        else:
            await asyncio.sleep(0.001)


@dataclass
class Waits:
    p50_ms: float
    p99_ms: float
    max_ms: float
    probes: int


async def bench_wait(client: Redis, args: argparse.Namespace, fairness: Fairness) -> Waits:
    await client.flushdb()
    queue = fresh_queue(client, "bench-wait", fairness)
    backlog = set(await enqueue(queue, ["backlog-01"] * args.probe_backlog))
    waits: list[int] = []
    drained = 0

    def seen(jobs: list[Job]) -> None:
        nonlocal drained
        drained += len(jobs)
        # Every job not of the backlog is a probe (its id is known only once its enqueue has
        # answered, and a consumer may take it before that).
        waits.extend(
            job.record.started_ms - job.record.enqueued_ms for job in jobs if job.id not in backlog
        )

    done = asyncio.Event()
    consumers = [
        asyncio.create_task(consume(queue, f"bench-{i}", args.count, seen, done))
        for i in range(args.consumers)
    ]
    # Probes while at least a tenth of the backlog is still waiting, each from a key of its own.
    probes = 0
    while probes < args.probes and drained < 0.9 * args.probe_backlog:
        await enqueue(queue, [f"probe{probes:05d}"])
        probes += 1
        await asyncio.sleep(args.probe_interval)
    async with asyncio.timeout(600):  # a probe lost would hang here: say so instead
        while len(waits) < probes:  # noqa: ASYNC110  (the consumers fill it)
            await asyncio.sleep(0.005)
    done.set()
    await asyncio.gather(*consumers)
    ordered = sorted(waits)
    return Waits(percentile(ordered, 50), percentile(ordered, 99), float(ordered[-1]), probes)


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest rank."""
    return float(ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))])


@dataclass
class Drain:
    jobs_per_s: float
    # Redis's own time in commands per job (INFO commandstats): the scripts' cost, which the
    # neighbours on a shared machine sway less than the wall clock.
    redis_us_per_job: float


async def drain(client: Redis, args: argparse.Namespace, fairness: Fairness) -> Drain:
    await client.flushdb()
    queue = fresh_queue(client, "bench-drain", fairness)
    keys = key_names(args.keys)
    per_key: int = max(args.drain_jobs // len(keys), 1)
    await enqueue(queue, [key for _ in range(per_key) for key in keys])
    done = asyncio.Event()
    done.set()  # each consumer stops at the first empty take
    await client.config_resetstat()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            consume(queue, f"bench-{i}", args.count, lambda jobs: None, done)
            for i in range(args.consumers)
        )
    )
    elapsed = time.perf_counter() - started
    commands = await client.info("commandstats")
    if (await queue.stats()).completed != per_key * len(keys):
        raise RuntimeError("the drain left work behind")
    jobs = per_key * len(keys)
    # The scripts' own time; the commands they call are counted inside it (and apart too).
    busy = sum(
        int(commands.get(f"cmdstat_{name}", {}).get("usec", 0)) for name in ("evalsha", "eval")
    )
    return Drain(jobs / elapsed, busy / jobs)


async def used_memory(client: Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def bench_memory(args: argparse.Namespace) -> dict[str, float]:
    """Bytes per waiting job, fair and FIFO, on a fresh server without AOF."""
    keys = key_names(args.keys)
    per_key = max(args.memory_jobs // len(keys), 1)
    order = [key for _ in range(per_key) for key in keys]
    results = {}
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedRedis(Path(folder), appendonly=False, extra_args=("--save", "")) as server,
    ):
        client = create_client(RedisSettings(host="127.0.0.1", port=server.port))
        for fairness in (
            FIFO,
            fair_of(args),
        ):  # load the scripts first: Redis counts them in used_memory
            await enqueue(fresh_queue(client, "bench-warm", fairness), key_names(2))
        for name, fairness in (("fifo", FIFO), ("fair", fair_of(args))):
            await client.flushdb()
            queue = fresh_queue(client, "bench-memory", fairness)
            before = await used_memory(client)
            await enqueue(queue, order)
            results[name] = (await used_memory(client) - before) / len(order)
        await client.aclose()
    return results


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def say(text: str) -> None:
    print(text, flush=True)


async def report_jain(client: Redis, args: argparse.Namespace) -> str:
    smallest, largest = args.smallest, round(args.smallest * args.skew)
    say(
        f"\na. fairness, {args.keys} equal-weight keys, backlogs {smallest} to {largest} "
        f"(geometric), shuffled arrival; Jain's index of starts per key over the busy period"
    )
    fair = await bench_jain(client, args, fair_of(args))
    fifo = await bench_jain(client, args, FIFO)
    say(f"   fair {fair:.4f}   FIFO {fifo:.4f}   (target >= 0.99)")
    return f"Jain {fair:.4f} {verdict(fair >= 0.99)}"


async def report_weights(client: Redis, args: argparse.Namespace) -> str:
    say(
        f"\nb. weights 1:2:4 on three keys of {args.weighted_backlog:,} jobs each; "
        f"shares of starts until the first runs out"
    )
    fair = await bench_weights(client, args, fair_of(args))
    fifo = await bench_weights(client, args, FIFO)
    total = sum(WEIGHTS.values())
    worst = 0.0
    for key, weight in WEIGHTS.items():
        expected = weight / total
        error = fair[key] / expected - 1
        worst = max(worst, abs(error))
        say(
            f"   {key}: fair {fair[key]:.4f} (expected {expected:.4f}, {error:+.1%})   "
            f"FIFO {fifo[key]:.4f}"
        )
    say(f"   largest deviation from 1:2:4: {worst:.1%} (target <= 5%)")
    return f"1:2:4 within {worst:.1%} {verdict(worst <= 0.05)}"


async def report_wait(client: Redis, args: argparse.Namespace) -> str:
    say(
        f"\nc. wait of a fresh key's one job behind another key's {args.probe_backlog:,}-job "
        f"backlog, enqueued to started (Redis clock), {args.consumers} consumers, a probe "
        f"every {args.probe_interval * 1000:g} ms"
    )
    fair = await bench_wait(client, args, fair_of(args))
    fifo = await bench_wait(client, args, FIFO)
    for name, w in (("fair", fair), ("FIFO", fifo)):
        say(
            f"   {name:4} p50 {w.p50_ms:8,.0f} ms   p99 {w.p99_ms:8,.0f} ms   "
            f"max {w.max_ms:8,.0f} ms   ({w.probes} probes)"
        )
    say("   (target: fair p99 <= 50 ms)")
    return (
        f"wait p99 {fair.p99_ms:.0f} ms {verdict(fair.p99_ms <= 50)} (FIFO {fifo.p99_ms:,.0f} ms)"
    )


async def report_drain(client: Redis, args: argparse.Namespace) -> str:
    per_key = max(args.drain_jobs // args.keys, 1)
    say(
        f"\nd. drain of {per_key * args.keys:,} jobs over {args.keys} keys, {args.consumers} "
        f"consumers, {args.rounds} rounds (each a FIFO and a fair drain back to back, which "
        "first alternating)"
    )
    drains: dict[str, list[Drain]] = {"fair": [], "FIFO": []}
    fair = fair_of(args)
    for round_ in range(args.rounds):
        order = (
            (("FIFO", FIFO), ("fair", fair))
            if round_ % 2 == 0
            else (("fair", fair), ("FIFO", FIFO))
        )
        for name, fairness in order:
            drains[name].append(await drain(client, args, fairness))
    rate = {k: statistics.median(d.jobs_per_s for d in v) for k, v in drains.items()}
    cost = {k: statistics.median(d.redis_us_per_job for d in v) for k, v in drains.items()}
    # The headline: the median of each round's own ratio. A round's two drains run within
    # seconds of each other, so the ratio of a round is spared what drifts between rounds (other
    # work on the machine, its clock speed), which the ratio of the medians is not.
    pairs = [
        f.jobs_per_s / b.jobs_per_s for f, b in zip(drains["fair"], drains["FIFO"], strict=True)
    ]
    ratio = statistics.median(pairs)
    say(
        f"   fair / FIFO, median of the rounds' ratios: {ratio:.2f} (target >= 0.8); "
        f"medians fair {rate['fair']:,.0f} jobs/s, FIFO {rate['FIFO']:,.0f} jobs/s "
        f"({rate['fair'] / rate['FIFO']:.2f})"
    )
    for name, runs in drains.items():
        say(f"   rounds, {name:4}: " + ", ".join(f"{d.jobs_per_s:,.0f}" for d in runs))
    say("   each round's fair / FIFO: " + ", ".join(f"{r:.2f}" for r in pairs))
    say(
        f"   Redis time per job (commandstats): fair {cost['fair']:.1f} us, "
        f"FIFO {cost['FIFO']:.1f} us, ratio {cost['FIFO'] / cost['fair']:.2f}"
    )
    return f"drain {ratio:.2f}x FIFO {verdict(ratio >= 0.8)}"


async def report_memory(args: argparse.Namespace) -> str:
    per_key = max(args.memory_jobs // args.keys, 1)
    limit = MEMORY_BEFORE * 1.1
    say(
        f"\ne. Redis bytes per waiting job, {per_key * args.keys:,} jobs of {PAYLOAD_BYTES} "
        f"bytes over {args.keys} keys (fresh server, no AOF)"
    )
    memory = await bench_memory(args)
    say(
        f"   fair {memory['fair']:.0f} B   FIFO {memory['fifo']:.0f} B   "
        f"(target <= {limit:.0f} B, 10% above the {MEMORY_BEFORE} B of before)"
    )
    return f"memory {memory['fair']:.0f} B {verdict(memory['fair'] <= limit)}"


REPORTS = {"a": report_jain, "b": report_weights, "c": report_wait, "d": report_drain}


async def main(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    summary = []
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedRedis(Path(folder), extra_args=NO_AOF_REWRITE) as server,
    ):
        client = create_client(RedisSettings(host="127.0.0.1", port=server.port))
        info = await client.info("server")
        say(
            f"redis {info['redis_version']} ({find_server_binary()}), AOF everysec without "
            f"rewrites; python {platform.python_version()}; {os.cpu_count()} CPUs; "
            f"load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
        )
        say(
            f"consumers: asyncio tasks in this process calling the Queue API directly "
            f"(ack_take of {args.count}, no-op processor, no gRPC); baseline: the same case "
            f'with Fairness(source="none"), plain FIFO, in this run'
        )
        for case, report in REPORTS.items():
            if case in args.only:
                summary.append(await report(client, args))
        await client.aclose()
    if "e" in args.only:
        summary.append(await report_memory(args))
    say("\nsummary: " + "; ".join(summary))
    say(
        f"took {time.perf_counter() - began:.0f} s; load average after: "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
    )


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000, help="keys in a, d and e")
    parser.add_argument("--smallest", type=int, default=10, help="a: the smallest backlog")
    parser.add_argument("--skew", type=float, default=100.0, help="a: largest / smallest backlog")
    parser.add_argument("--weighted-backlog", type=int, default=20_000, help="b: jobs per key")
    parser.add_argument("--probe-backlog", type=int, default=100_000, help="c: the backlog")
    parser.add_argument("--probes", type=int, default=200, help="c: probes at most")
    parser.add_argument("--probe-interval", type=float, default=0.02, help="c: seconds")
    parser.add_argument("--drain-jobs", type=int, default=100_000, help="d: jobs per drain")
    parser.add_argument("--rounds", type=int, default=9, help="d: rounds, a FIFO and a fair drain")
    parser.add_argument("--memory-jobs", type=int, default=100_000, help="e: jobs")
    parser.add_argument("--consumers", type=int, default=4, help="c, d: consumer tasks")
    parser.add_argument("--count", type=int, default=64, help="jobs per take")
    parser.add_argument("--only", default="abcde", help="the cases to run, e.g. d or ace")
    parser.add_argument(
        "--quantum", type=int, default=Fairness().quantum, help="the fair share's quantum"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
