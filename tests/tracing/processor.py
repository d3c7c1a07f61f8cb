"""The processor of the tracing tests: its first attempt fails (so a trace shows two attempts,
siblings), the second does its work in a span of its own."""

from __future__ import annotations

from opentelemetry import trace

from feedback_queue.processing import JobContext, RetryableError


async def process(job: JobContext) -> str:
    if job.attempt == 1:
        raise RetryableError("the model service is busy")
    with trace.get_tracer("tests.tracing").start_as_current_span("grade essay"):
        return '{"score": 4}'
