"""Run a worker with its gRPC health server until SIGTERM/SIGINT (or, with --burst, until done).

    fbq worker [--burst]  |  python -m worker_service [--burst]
    (health on FBQ_WORKER_HEALTH_PORT, default 50052)

The first signal stops fetching and gives running jobs FBQ_SHUTDOWN_GRACE to finish; the rest
go back to waiting. A second signal exits at once: the reaper recovers whatever was left.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2_grpc

from feedback_queue import logs, tls
from feedback_queue.connection import create_client
from feedback_queue.errors import ConfigError, QueueError, QueueUnavailable
from feedback_queue.loop import run_loop
from feedback_queue.queue import Queue
from feedback_queue.rpc import HealthReporter
from feedback_queue.settings import Settings, bind_address
from feedback_queue.sharded import shard_queues
from feedback_queue.startup import require_redis
from feedback_queue.tracing import Tracing
from feedback_queue.tracing import start as start_tracing
from worker_service import processors
from worker_service.metrics import WorkerMetrics
from worker_service.worker import Worker

log = logging.getLogger(__name__)


# From this many slots per shard on, a process runs two fetch loops, each a Worker with half
# the slots, its own id and its own processing list. A loop waits for its take's reply before it
# hands out jobs; with two, one loop's take is in flight while the other's jobs run, so Redis and
# this process work at the same time. Measured with benchmarks/peers (no-op jobs, concurrency
# 64): about 20% more jobs/s. Below it, one loop's batches are small anyway.
TWO_LOOPS_FROM = 32


def fetch_loops(slots: int) -> int:
    return 2 if slots >= TWO_LOOPS_FROM else 1


def make_workers(
    settings: Settings,
    queues: list[Queue],
    processor: processors.Processor,
    tracing: Tracing | None = None,
) -> list[Worker]:
    """One fetch loop per shard (feedback_queue/sharded.py), sharing the slots, and two per
    shard when the slots are many (see fetch_loops); one set of histograms for them all."""
    config = settings.worker
    loops = fetch_loops(config.concurrency // len(queues))
    if len(queues) * loops > 1:
        share = max(1, config.concurrency // (len(queues) * loops))
        config = dataclasses.replace(config, concurrency=share)
    bounds = settings.bounds
    metrics = WorkerMetrics(config.metrics_kinds)
    if config.metrics_port:
        metrics.serve(settings.worker_health_host, config.metrics_port)
    return [
        Worker(
            q,
            processor,
            config,
            max_result_bytes=bounds.max_result_bytes,
            max_progress_bytes=bounds.max_progress_bytes,
            metrics=metrics,
            tracing=tracing,
        )
        for q in queues
        for _ in range(loops)
    ]


async def serve(
    settings: Settings,
    *,
    burst: bool = False,
    processor: processors.Processor | None = None,
    queue: Queue | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Work until SIGTERM/SIGINT, or until `stop` is set when one is given (then no signals)."""
    processor = processor or processors.load(settings)
    queues = [queue] if queue else shard_queues(settings, create_client(settings.redis))
    tracing = start_tracing(settings.tracing, "fbq-worker")
    workers = make_workers(settings, queues, processor, tracing)
    config = workers[0].config
    await require_redis(queues[0], settings.startup_timeout)

    async def ready() -> None:
        await queues[0].ping()
        if not all(w.registered for w in workers):
            raise QueueUnavailable("the worker has not registered yet")

    health = HealthReporter(
        ready,
        [],
        settings.health_interval,
        liveness=lambda: all(w.alive(config.liveness_window) for w in workers),
    )
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    address = bind_address(settings.worker_health_host, settings.worker_health_port)
    port = tls.add_port(server, address, settings.tls)
    await health.check_once()
    await server.start()
    health_task = asyncio.create_task(health.run())
    log.info("worker health on :%d", port)

    signals = 0
    shutting_down: list[asyncio.Task[None]] = []

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            log.warning("second signal: exiting now; the reaper will recover running jobs")
            os._exit(1)
        for worker in workers:
            worker.stop()
        # NOT_SERVING from now on, and no more checks that would call it a failure.
        shutting_down.append(asyncio.create_task(health.shutdown()))

    if stop is None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
    else:
        shutting_down.append(asyncio.create_task(_on_stop(stop, on_signal)))
    try:
        await asyncio.gather(*(w.run(burst=burst) for w in workers))
    finally:
        await health.shutdown()
        health_task.cancel()
        await server.stop(1.0)
        await processor.aclose()
        await queues[0].close()  # one client for all shards
        if tracing is not None:
            tracing.shutdown()  # sends the spans still batched


async def _on_stop(stop: asyncio.Event, on_signal: Callable[[], None]) -> None:
    await stop.wait()
    on_signal()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `fbq worker` and `python -m worker_service`."""
    parser.add_argument("--burst", action="store_true", help="drain the queue, then exit")


def run(settings: Settings, *, burst: bool = False) -> None:
    """Work until stopped (`fbq worker`, `python -m worker_service`)."""
    try:
        processor = processors.load(settings)  # a bad FBQ_PROCESSOR fails before Redis is asked
    except ConfigError as exc:
        sys.exit(f"fbq worker: {exc}")
    logs.configure(settings.log_level, settings.secrets())
    try:
        run_loop(serve(settings, burst=burst, processor=processor))
    except (QueueError, ConfigError) as exc:
        sys.exit(f"fbq worker: {exc}")
    # A plain processor stuck in its thread would hold the interpreter at exit; its job is
    # already back in waiting, so leave now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
