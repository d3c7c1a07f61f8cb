"""Tracing with OpenTelemetry: one trace from the caller to the processor's work.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and then
at no cost: this is the only module that imports OpenTelemetry, and only when tracing is on
(the `otel` extra installs it). When on:
- ingest and the gateway's and clients' channels get the gRPC instrumentation's interceptors:
  a server span per call, a client span per call;
- ingest keeps the W3C traceparent of each Submit with the job it makes (the record's extra
  `c`, outside the payload: an idempotent retry from another trace is the same submission);
- the worker runs each attempt of such a job in a span `fbq process <kind>` (CONSUMER) whose
  parent is that Submit's span: one span per attempt, retries as siblings, with the queue wait
  (enqueue to start, by Redis's clock) as `fbq.queue_wait_ms`. The processor runs inside it, so
  its own spans are its children (a plain processor's thread gets the context too).
Spans leave through OTLP/gRPC, batched; the SDK reads the other standard OTEL_* variables
itself (service name, sampler, headers...), the one exception to "one place reads the
environment". Each service shuts the provider down at exit, which sends what is left.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from feedback_queue.errors import ConfigError

PACKAGES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.grpc")
# Calls not worth a span: probes, and reflection.
UNTRACED = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")


@dataclass(frozen=True)
class TracingConfig:
    """Whether tracing is on (Settings.tracing, from the standard OTEL_* variables)."""

    enabled: bool = False
    # The variable that turned it on, for errors ("" when off).
    because: str = ""


class Tracing:
    """The tracer of one service, and the interceptors of its gRPC servers and channels."""

    def __init__(self, service: str) -> None:
        from opentelemetry import context as contexts  # noqa: PLC0415
        from opentelemetry import trace  # noqa: PLC0415  (only when tracing is on)
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
        from opentelemetry.trace import SpanKind  # noqa: PLC0415
        from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
            TraceContextTextMapPropagator,
        )

        # OTEL_SERVICE_NAME, when set, wins over the service's own name (the SDK reads it).
        resource = Resource.create({SERVICE_NAME: service})
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(self.provider)
        self.tracer = trace.get_tracer("feedback_queue")
        self.propagator = TraceContextTextMapPropagator()  # W3C traceparent, made once
        self.consumer = SpanKind.CONSUMER
        self.contexts = contexts

    def server_interceptors(self) -> list[Any]:
        from opentelemetry.instrumentation.grpc import (  # noqa: PLC0415
            aio_server_interceptor,
            filters,
        )

        skip = filters.any_of(*(filters.service_name(s) for s in UNTRACED))
        return [aio_server_interceptor(filter_=filters.negate(skip))]  # type: ignore[no-untyped-call]

    def traceparent(self) -> str:
        """The W3C traceparent of the current span ("" outside one)."""
        carrier: dict[str, str] = {}
        self.propagator.inject(carrier)
        return carrier.get("traceparent", "")

    @contextlib.contextmanager
    def attempt(self, traceparent: str, kind: str, attributes: dict[str, Any]) -> Iterator[Any]:
        """A span for one attempt, child of the Submit that `traceparent` names, current while
        the processor runs; an error it raises marks the span failed. When the caller did not
        sample that Submit (its flags say so), no span is made: its context is only made
        current, so the processor's own spans follow the caller's decision too."""
        parent = self.propagator.extract({"traceparent": traceparent})
        if traceparent.endswith("-00"):
            token = self.contexts.attach(parent)
            try:
                yield None
            finally:
                self.contexts.detach(token)
            return
        name = f"fbq process {kind or 'default'}"
        with self.tracer.start_as_current_span(
            name, context=parent, kind=self.consumer, attributes=attributes
        ) as span:
            yield span

    def shutdown(self) -> None:
        """Send the spans still batched, and stop."""
        self.provider.shutdown()


def client_interceptors() -> list[Any]:
    """The gRPC client spans of an aio channel, when tracing is on in this process."""
    from opentelemetry.instrumentation.grpc import aio_client_interceptors  # noqa: PLC0415

    return list(aio_client_interceptors())  # type: ignore[no-untyped-call]


def start(config: TracingConfig, service: str) -> Tracing | None:
    """The service's tracing, or None when off; ConfigError when it is asked for and the
    `otel` extra is not installed."""
    if not config.enabled:
        return None
    if any(_absent(p) for p in PACKAGES):
        raise ConfigError(
            f"{config.because} is set, but OpenTelemetry is not installed: install "
            "feedback-queue[otel], or unset it"
        )
    return Tracing(service)


def _absent(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True
