"""`fbq up --memory`: ingest, one worker and the gateway in this one process, in memory.

For a first look without a Redis binary. Same ports, same API, same queue semantics
(feedback_queue/memory.py); but every submission lives only in this process and is lost when it
stops, which it says loudly at start, and health reports `connected: false`, "degraded".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from feedback_queue import logs
from feedback_queue.demo import demo
from feedback_queue.errors import QueueError
from feedback_queue.loop import run_loop
from feedback_queue.memory import MemoryQueue
from feedback_queue.settings import Settings
from feedback_queue.up import exclusive, ready_block, secret_file, token_line
from gateway.app import create_app
from gateway.client import IngestClient
from ingest_service.server import create_server
from worker_service.server import serve as serve_worker

log = logging.getLogger(__name__)

WARNING = """
************************************************************************************
  IN-MEMORY MODE (--memory): submissions live only in this process's memory and are
  LOST when it stops. Not for production. Run `fbq up` without --memory to keep them
  in Redis, on disk.
************************************************************************************"""


class _Gateway(uvicorn.Server):
    """uvicorn without its own signal handlers: this process stops its parts in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run_in_memory(settings: Settings, data_dir: Path, *, demo: bool) -> int:
    """Serve until Ctrl-C or SIGTERM; the token is kept in `data_dir` as without --memory."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    logs.configure(settings.log_level, settings.secrets())
    try:
        with exclusive(data_dir):
            token = secret_file(data_dir / "token")
            settings = dataclasses.replace(
                settings,
                grpc_token=settings.grpc_token or token,
                admin_token=settings.admin_token or token,
                ingest_addr=f"127.0.0.1:{settings.ingest_port}",
            )
            print(WARNING, file=sys.stderr, flush=True)
            run_loop(_serve(settings, token_line(data_dir / "token", sys.stdout), demo))
    except (QueueError, OSError, RuntimeError) as exc:  # RuntimeError: a gRPC port in use
        print(f"fbq up: {exc}", file=sys.stderr)
        return 1
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


async def _serve(settings: Settings, token: str, with_demo: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    queue = MemoryQueue.in_memory(settings)
    ingest = create_server(settings, queue=queue)
    await ingest.start()
    worker_stop = asyncio.Event()
    worker = asyncio.create_task(serve_worker(settings, queue=queue, stop=worker_stop))
    app = create_app(
        IngestClient(settings.ingest_addr, settings.rpc_deadline, settings.grpc_token),
        token=settings.admin_token,
        cors_origins=settings.cors_origins,
    )
    gateway = _Gateway(
        uvicorn.Config(
            app,
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_level=settings.log_level.lower(),
            access_log=False,
            server_header=False,
        )
    )
    serving = asyncio.create_task(gateway.serve())
    tasks: list[asyncio.Task[None]] = []
    try:
        while not gateway.started:  # uvicorn offers no event for it
            if serving.done() or worker.done():
                raise QueueError("the gateway or the worker did not start; see the log above")
            await asyncio.sleep(0.02)
        where = "none: IN MEMORY (--memory), lost on exit"
        _say(ready_block(settings, 1, where, token, f"all in this one, fbq={os.getpid()}"))
        log.warning("in-memory mode: submissions are lost when this process stops")
        if with_demo:
            address = f"127.0.0.1:{settings.ingest_port}"
            grpc_token = settings.grpc_token or ""
            tasks.append(asyncio.create_task(demo(address, grpc_token, _say, settings.tls)))
        await stop.wait()
    finally:
        _say("stopping: gateway, ingest, worker")
        for task in tasks:
            task.cancel()
        gateway.should_exit = True
        await serving
        await ingest.stop()
        worker_stop.set()
        await worker
        _say("stopped")
