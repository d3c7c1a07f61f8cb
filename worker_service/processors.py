"""Choosing and calling the processor named by FBQ_PROCESSOR.

feedback          the built-in deterministic writing feedback (default)
http              POST each submission as JSON to FBQ_PROCESSOR_URL (a model service)
module:function   your own code; async functions are awaited, plain ones run in threads
                  (threads.py: their timeouts, and threads stuck past them)
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from feedback_queue.errors import ConfigError
from feedback_queue.processing import JobContext
from feedback_queue.progress import as_result
from feedback_queue.settings import Settings
from worker_service import feedback
from worker_service.threads import ProcessorThreads

AsyncProcessor = Callable[[JobContext], Awaitable[Any]]


@dataclass
class Processor:
    """An async callable over any processor, with what it needs closed at shutdown."""

    name: str
    call: AsyncProcessor
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    threads: ProcessorThreads | None = None  # the pool a plain function runs in (threads.py)

    async def __call__(self, job: JobContext) -> str:
        return as_result(await self.call(job))

    async def aclose(self) -> None:
        for close in self.closers:
            await close()


def load(settings: Settings) -> Processor:
    """The processor FBQ_PROCESSOR names; ConfigError names what is wrong with it."""
    name = settings.worker.processor
    if name == "http":
        from worker_service.http_processor import HttpProcessor  # noqa: PLC0415

        if not settings.worker.processor_url:
            raise ConfigError("FBQ_PROCESSOR_URL: required when FBQ_PROCESSOR=http")
        http = HttpProcessor(settings.worker.processor_url, timeout=settings.worker.job_timeout)
        return Processor(name, http, [http.aclose])
    function = feedback.process if name == "feedback" else _import(name)
    return from_function(name, function, settings.worker.concurrency)


def from_function(name: str, function: Callable[[JobContext], Any], threads: int) -> Processor:
    """A Processor over a plain or async function; a plain one runs in `threads` threads."""
    if inspect.iscoroutinefunction(function):
        return Processor(name, function)
    pool = ProcessorThreads(threads)
    return Processor(name, pool.wrap(function), [pool.aclose], threads=pool)


def _import(spec: str) -> Callable[[JobContext], Any]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(
            f"FBQ_PROCESSOR: expected feedback, http or module:function, got {spec!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"FBQ_PROCESSOR: cannot import {module_name!r}: {exc}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(f"FBQ_PROCESSOR: {module_name!r} has no function {attribute!r}")
    return function  # type: ignore[no-any-return]
