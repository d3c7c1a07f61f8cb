"""The `fbq` command line: one entry point for every process and tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from feedback_queue import __version__


def _ingest(args: argparse.Namespace) -> int:
    from ingest_service.server import run  # noqa: PLC0415  (each command loads only its own code)

    run(args)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from worker_service.server import run  # noqa: PLC0415

    run(args)
    return 0


def _gateway(args: argparse.Namespace) -> int:
    from gateway.server import run  # noqa: PLC0415

    run(args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fbq",
        description="Feedback Queue: a durable submission queue on Redis.",
        epilog="Configuration comes from the environment (REDIS_URL, FBQ_*); see the README.",
    )
    parser.add_argument("--version", action="version", version=f"fbq {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    ingest = commands.add_parser(
        "ingest",
        help="run the gRPC ingest service (port FBQ_INGEST_PORT, default 50051)",
        description="Run the ingest service until SIGTERM or Ctrl-C.",
        epilog="example: REDIS_URL=redis://localhost:6379/0 fbq ingest",
    )
    ingest.set_defaults(run=_ingest)
    worker = commands.add_parser(
        "worker",
        help="run a worker (health on FBQ_WORKER_HEALTH_PORT, default 50052)",
        description="Take submissions from the queue and process them until SIGTERM or Ctrl-C.",
        epilog="example: FBQ_CONCURRENCY=32 FBQ_PROCESSOR=http "
        "FBQ_PROCESSOR_URL=http://model:8000/feedback fbq worker",
    )
    worker.add_argument("--burst", action="store_true", help="drain the queue, then exit")
    worker.set_defaults(run=_worker)
    gateway = commands.add_parser(
        "gateway",
        help="run the admin HTTP gateway (port FBQ_GATEWAY_PORT, default 8080)",
        description="Serve the admin API, /metrics and /healthz over HTTP.",
        epilog="example: FBQ_ADMIN_TOKEN=... FBQ_INGEST_ADDR=ingest:50051 fbq gateway",
    )
    gateway.add_argument("--host", help="address to bind (default FBQ_GATEWAY_HOST, 0.0.0.0)")
    gateway.add_argument("--port", type=int, help="port (default FBQ_GATEWAY_PORT, 8080)")
    gateway.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve the admin API without a token (loopback only)",
    )
    gateway.set_defaults(run=_gateway)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
