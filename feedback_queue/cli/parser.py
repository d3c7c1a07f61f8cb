"""The `fbq` parser: every command, its options and help, and the handler each one runs.

Each handler loads only its own code: a service's package, `fbq up`'s, or one module of
`feedback_queue.cli.commands`.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from feedback_queue import __version__
from feedback_queue.cli.check_parser import add_check
from feedback_queue.cli.commands.parsing import (
    duration,
    key_value,
    positive_duration,
    positive_int,
)
from feedback_queue.cli.credentials_parser import add_credentials
from feedback_queue.cli.sharing_parser import add_sharing
from feedback_queue.settings import Settings, load
from feedback_queue.up import Options

Handler = Callable[[argparse.Namespace], int]
RAW = argparse.RawDescriptionHelpFormatter


def _ingest(args: argparse.Namespace) -> int:
    from ingest_service.server import run  # noqa: PLC0415  (each command loads only its own code)

    run(load("fbq ingest"))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from worker_service.server import run  # noqa: PLC0415

    run(load("fbq worker"), burst=args.burst)
    return 0


def _gateway(args: argparse.Namespace) -> int:
    from gateway.server import apply_arguments, run  # noqa: PLC0415

    run(apply_arguments(load("fbq gateway"), args), insecure_no_auth=args.insecure_no_auth)
    return 0


def _up(args: argparse.Namespace) -> int:
    from feedback_queue.up.stack import run  # noqa: PLC0415

    return run(
        Options(
            data_dir=args.data_dir,
            workers=args.workers,
            memory=args.memory,
            demo=args.demo,
            host=args.host,
        )
    )


def _service_arguments(module: str) -> Callable[[argparse.ArgumentParser], None]:
    """A service's own options (worker_service.server.add_arguments, ...), loaded on use."""
    adder: Callable[[argparse.ArgumentParser], None] = importlib.import_module(module).add_arguments
    return adder


def _command(module: str, function: str) -> Handler:
    """A handler that imports feedback_queue.cli.commands.<module> only when it runs."""

    def handler(args: argparse.Namespace) -> int:
        commands = importlib.import_module(f"feedback_queue.cli.commands.{module}")
        run: Handler = getattr(commands, function)
        return run(args)

    return handler


def _parents() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser]:
    """Options shared by commands: --debug (also after the command), connection, --json."""
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    client = argparse.ArgumentParser(add_help=False, parents=[debug])
    client.add_argument(
        "--addr",
        metavar="HOST:PORT",
        help=f"the ingest service (default FBQ_INGEST_ADDR, else {Settings.ingest_addr})",
    )
    client.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the gRPC token from PATH (default FBQ_GRPC_TOKEN, else .fbq/token if present)",
    )
    client.add_argument(
        "--timeout",
        type=positive_duration,
        default=10.0,
        metavar="DURATION",
        help="deadline of each call, e.g. 10s or 500ms (default 10s)",
    )
    json_output = argparse.ArgumentParser(add_help=False)
    json_output.add_argument("--json", action="store_true", help="print JSON for scripts")
    return debug, client, json_output


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fbq",
        description="Feedback Queue: a durable submission queue on Redis.",
        epilog="Configuration comes from the environment (REDIS_URL, FBQ_*); see\n"
        "docs/configuration.md. Every command has --help with examples.",
        formatter_class=RAW,
    )
    parser.add_argument("--version", action="version", version=f"fbq {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_services(commands)
    _add_client_commands(commands)
    debug, _, json_output = _parents()
    add_check(commands, [debug, json_output], _command("check", "check"))
    add_credentials(commands, [debug], _command("credentials", "add"))
    _, client, _ = _parents()
    add_sharing(
        commands,
        [client, json_output],
        _command("sharing", "keys"),
        _command("sharing", "quota"),
    )
    return parser


def _add_services(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    debug, _, _ = _parents()
    ingest = commands.add_parser(
        "ingest",
        parents=[debug],
        help=f"run the gRPC ingest service (port FBQ_INGEST_PORT, default {Settings.ingest_port})",
        description="Run the ingest service until SIGTERM or Ctrl-C.",
        epilog="example: REDIS_URL=redis://localhost:6379/0 fbq ingest",
    )
    ingest.set_defaults(run=_ingest)
    worker = commands.add_parser(
        "worker",
        parents=[debug],
        help="run a worker (health on FBQ_WORKER_HEALTH_PORT, default "
        f"{Settings.worker_health_port})",
        description="Take submissions from the queue and process them until SIGTERM or Ctrl-C.",
        epilog="example: FBQ_CONCURRENCY=32 FBQ_PROCESSOR=http "
        "FBQ_PROCESSOR_URL=http://model:8000/feedback fbq worker",
    )
    _service_arguments("worker_service.server")(worker)
    worker.set_defaults(run=_worker)
    gateway = commands.add_parser(
        "gateway",
        parents=[debug],
        help=f"run the admin HTTP gateway (port FBQ_GATEWAY_PORT, default {Settings.gateway_port})",
        description="Serve the admin API, /metrics and /healthz over HTTP.",
        epilog="example: FBQ_ADMIN_TOKEN=... FBQ_INGEST_ADDR=ingest:50051 fbq gateway",
    )
    _service_arguments("gateway.server")(gateway)
    gateway.set_defaults(run=_gateway)
    up = commands.add_parser(
        "up",
        parents=[debug],
        help="run Redis (embedded unless REDIS_URL is set), ingest, workers and the gateway "
        "together",
        description="Run Redis (embedded unless REDIS_URL is set), ingest, workers and the "
        "gateway together, until Ctrl-C or SIGTERM.",
        epilog="examples:\n"
        "  fbq up                      # data and the gRPC token in ./.fbq\n"
        "  fbq up --workers 4 --demo\n"
        "  fbq up --memory             # nothing kept on disk\n"
        "  fbq up --host 0.0.0.0       # reachable from other machines (default: loopback)",
        formatter_class=RAW,
    )
    up.add_argument(
        "--data-dir",
        default=Options.data_dir,
        metavar="PATH",
        help=f"Redis's files and the gRPC token ({Options.data_dir})",
    )
    up.add_argument(
        "--workers",
        type=positive_int,
        default=Options.workers,
        metavar="N",
        help=f"worker processes ({Options.workers})",
    )
    up.add_argument(
        "--memory",
        action="store_true",
        help="Redis with persistence off in a temporary folder: nothing is kept after stop",
    )
    up.add_argument(
        "--host",
        default=Options.host,
        metavar="ADDR",
        help=f"the address ingest, the workers' health and the gateway bind ({Options.host})",
    )
    up.add_argument(
        "--demo",
        action="store_true",
        help="submit the sample writing pieces and show their feedback",
    )
    up.set_defaults(run=_up)


def _add_client_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    debug, client, json_output = _parents()
    both = [client, json_output]

    submit = commands.add_parser(
        "submit",
        parents=both,
        help="submit text, a file, stdin, or a JSON Lines file of many",
        description="Submit work to the queue through the ingest service.",
        epilog="examples:\n"
        '  fbq submit "My essay. It is short." --submitter learner-7 --wait\n'
        "  fbq submit --file essay.txt --kind essay --metadata course=bio101\n"
        "  cat essay.txt | fbq submit - --idempotency-key essay-42\n"
        "  fbq submit --jsonl batch.jsonl --json\n"
        "  fbq submit --file essay.txt --fairness-key school-12 --priority high\n"
        "\n"
        "--jsonl: one JSON object per line with the Submission fields (submitter_id, content,\n"
        "kind, instructions, metadata, idempotency_key, fairness_key, priority such as\n"
        '"PRIORITY_HIGH") and optionally "delay" ("5m"); the options fill what a line leaves\n'
        "out. Exit 1 when any line was rejected.\n"
        "--wait: exit 0 when the submission COMPLETED, 1 when it FAILED.",
        formatter_class=RAW,
    )
    submit.add_argument("text", nargs="?", metavar="TEXT", help="the content; - reads stdin")
    submit.add_argument("--file", metavar="PATH", help="read the content from PATH")
    submit.add_argument("--jsonl", metavar="FILE", help="submit every line of FILE (- for stdin)")
    submit.add_argument(
        "--submitter", default="fbq-cli", metavar="ID", help="submitter_id (default fbq-cli)"
    )
    submit.add_argument("--kind", help="the kind of work, e.g. essay")
    submit.add_argument("--instructions", help="instructions for the processor")
    submit.add_argument(
        "--metadata",
        action="append",
        type=key_value,
        metavar="KEY=VALUE",
        help="a label (repeatable)",
    )
    submit.add_argument("--idempotency-key", metavar="KEY", help="resubmitting is a no-op")
    submit.add_argument(
        "--fairness-key",
        metavar="KEY",
        help="whose share of the workers it counts against (default: the server's "
        "FBQ_FAIRNESS_KEY, by default the submitter)",
    )
    submit.add_argument(
        "--priority",
        choices=("high", "normal", "low"),
        help="strict between levels, fair within one (default normal)",
    )
    submit.add_argument(
        "--delay", type=duration, metavar="DURATION", help="run no earlier than this, e.g. 5m"
    )
    submit.add_argument(
        "--wait", action="store_true", help="follow it to COMPLETED or FAILED and print the result"
    )
    submit.set_defaults(run=_command("submit", "submit"), client=True)

    status = commands.add_parser(
        "status",
        parents=both,
        help="show one submission",
        description="Show one submission: status, attempts, times, last error, result.",
        epilog="examples:\n"
        "  fbq status Qm1c3m9yZXNk\n"
        "  fbq status Qm1c3m9yZXNk --watch          # until COMPLETED (exit 0) or FAILED (1)\n"
        "  fbq status Qm1c3m9yZXNk --json | jq -r .result",
        formatter_class=RAW,
    )
    status.add_argument("id", metavar="ID")
    status.add_argument("--watch", action="store_true", help="print every change until final")
    status.set_defaults(run=_command("inspect", "status"), client=True)

    stats = commands.add_parser(
        "stats",
        parents=both,
        help="queue counts: waiting, active, delayed, failed, workers, totals",
        description="Show the queue's counts.",
        epilog="examples:\n"
        "  fbq stats\n"
        "  fbq stats --watch                 # refresh every second until Ctrl-C\n"
        "  fbq stats --json | jq .waiting",
        formatter_class=RAW,
    )
    stats.add_argument("--watch", action="store_true", help="refresh every second until Ctrl-C")
    stats.set_defaults(run=_command("inspect", "stats"), client=True)

    dead = commands.add_parser(
        "dead",
        parents=[debug],
        help="dead letters: list, retry or delete FAILED submissions",
        description="The dead-letter queue: submissions that FAILED their last attempt.",
        epilog="examples:\n"
        "  fbq dead list\n"
        "  fbq dead retry Qm1c3m9yZXNk\n"
        "  fbq dead retry --all\n"
        "  fbq dead delete Qm1c3m9yZXNk vjOSRCha0OCi",
        formatter_class=RAW,
    )
    dead_commands = dead.add_subparsers(dest="dead_command", metavar="COMMAND", required=True)
    dead_list = dead_commands.add_parser(
        "list",
        parents=both,
        help="FAILED submissions with their last error",
        description="List FAILED submissions, oldest failure first, a page at a time.",
        epilog="examples:\n"
        "  fbq dead list --limit 100\n"
        "  fbq dead list --cursor 20                 # the next page, as the last one said\n"
        "  fbq dead list --json | jq -r '.submissions[].id'",
        formatter_class=RAW,
    )
    dead_list.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="page size, 1-500 (20)"
    )
    dead_list.add_argument("--cursor", metavar="CURSOR", help="where the previous page ended")
    dead_list.set_defaults(run=_command("admin", "dead_list"), client=True)
    dead_retry = dead_commands.add_parser(
        "retry",
        parents=[client],
        help="run FAILED submissions again",
        description="Move FAILED submissions back to WAITING; their attempts start over.",
        epilog="examples:\n  fbq dead retry Qm1c3m9yZXNk vjOSRCha0OCi\n  fbq dead retry --all",
        formatter_class=RAW,
    )
    dead_retry.add_argument("ids", nargs="*", metavar="ID")
    dead_retry.add_argument("--all", action="store_true", help="retry every FAILED submission")
    dead_retry.set_defaults(run=_command("admin", "dead_retry"), client=True)
    dead_delete = dead_commands.add_parser(
        "delete",
        parents=[client],
        help="delete submissions for good",
        description="Delete submissions (any that is not ACTIVE).",
        epilog="example:\n  fbq dead delete Qm1c3m9yZXNk vjOSRCha0OCi",
        formatter_class=RAW,
    )
    dead_delete.add_argument("ids", nargs="+", metavar="ID")
    dead_delete.set_defaults(run=_command("admin", "dead_delete"), client=True)

    _add_cancel(commands, client)

    for name, verb, text in (
        ("pause", "pause", "workers take no new work (within a second); running work finishes"),
        ("resume", "resume", "workers take work again"),
    ):
        command = commands.add_parser(
            name,
            parents=[client],
            help=f"{verb} the queue: {text}",
            description=f"{verb.capitalize()} the queue: {text}.",
            epilog=f"example:\n  fbq {name} --addr ingest:50051",
            formatter_class=RAW,
        )
        command.set_defaults(run=_command("admin", name), client=True)

    health = commands.add_parser(
        "health",
        parents=[debug, json_output],
        help="grpc.health.v1 Check: exit 0 when SERVING, 1 otherwise (an exec probe)",
        description="Ask a gRPC server's grpc.health.v1 service, as a Kubernetes probe does. "
        "Exit 0 when SERVING; 1 otherwise (NOT_SERVING, unknown service, unreachable, no "
        "answer in time), with a one-line reason. Needs no token.",
        epilog="examples:\n"
        '  fbq health                                  # ingest, service ""\n'
        "  fbq health ingest:50051 --service feedback_queue.v1.SubmissionService\n"
        "  fbq health 127.0.0.1:50052 --service liveness --timeout 1s   # a worker\n"
        "\n"
        "As a Kubernetes exec probe:\n"
        '  exec: {command: ["fbq", "health", "127.0.0.1:50051", "--service", "readiness"]}',
        formatter_class=RAW,
    )
    health.add_argument(
        "address",
        nargs="?",
        metavar="ADDR",
        help=f"host:port (default FBQ_INGEST_ADDR, else {Settings.ingest_addr})",
    )
    health.add_argument(
        "--service", default="", metavar="NAME", help='the service to ask about (default "")'
    )
    health.add_argument(
        "--timeout",
        type=positive_duration,
        default=5.0,
        metavar="DURATION",
        help="how long to wait for the answer (default 5s)",
    )
    health.set_defaults(run=_command("health", "health"), client=True)

    bench = commands.add_parser(
        "bench",
        parents=both,
        help="load-test ingest: throughput and submit latency",
        description="Submit COUNT real submissions (workers will process them) and report "
        "throughput, latency percentiles and failures by status code. Exit 1 if any failed.",
        epilog="examples:\n"
        "  fbq bench --count 5000 --concurrency 32\n"
        "  fbq bench --count 20000 --stream --payload-bytes 1024 --json",
        formatter_class=RAW,
    )
    bench.add_argument(
        "--count", type=positive_int, default=1000, metavar="N", help="submissions (1000)"
    )
    bench.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="N",
        help="concurrent calls (16), or streams with --stream (4: ingest's default cap)",
    )
    bench.add_argument("--stream", action="store_true", help="use SubmitStream, not Submit")
    bench.add_argument(
        "--payload-bytes",
        type=positive_int,
        default=200,
        metavar="B",
        help="content size in bytes (200)",
    )
    bench.set_defaults(run=_command("bench", "bench"), client=True)


def _add_cancel(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], client: argparse.ArgumentParser
) -> None:
    cancel = commands.add_parser(
        "cancel",
        parents=[client],
        help="cancel submissions by id, or every waiting or delayed one of a submitter or key",
        description="Cancel submissions. WAITING and DELAYED ones never run; an ACTIVE one is "
        "stopped (its processor is told, and its outcome will not count). With --submitter or "
        "--key, every WAITING and DELAYED submission that matches is cancelled, after a count "
        "(operators and admins).",
        epilog="examples:\n"
        "  fbq cancel Qm1c3m9yZXNk vjOSRCha0OCi\n"
        "  fbq cancel --submitter learner-42 --dry-run     # how many would go\n"
        "  fbq cancel --key course-7 --only delayed --yes",
        formatter_class=RAW,
    )
    cancel.add_argument("ids", nargs="*", metavar="ID")
    cancel.add_argument("--submitter", metavar="ID", help="match this submitter_id")
    cancel.add_argument("--key", metavar="KEY", help="match this fairness key")
    cancel.add_argument(
        "--only",
        action="append",
        choices=["waiting", "delayed"],
        help="only submissions in this state (repeatable; default both)",
    )
    cancel.add_argument("--dry-run", action="store_true", help="count, cancel nothing")
    cancel.add_argument("--yes", action="store_true", help="cancel without asking")
    cancel.set_defaults(run=_command("cancel", "cancel"), client=True)
