"""fbq submit: one submission (text, a file or stdin), or many from a JSON Lines file.

Every submit carries an idempotency key (the client makes one when none is given), so the
client's retries never make a second job.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from feedback_queue.cli.commands import connect
from feedback_queue.cli.commands.errors import CliError
from feedback_queue.cli.commands.inspect import follow, report_final, state_line
from feedback_queue.cli.commands.output import Output, status_name
from feedback_queue.cli.commands.parsing import duration
from feedback_queue.client import AsyncClient, Submission, SubmitFailed, Submitted
from feedback_queue.v1 import queue_pb2 as pb

# --priority's names. normal is sent unset, which means normal: a resubmit with or without
# --priority normal is the same payload (idempotency compares payloads).
PRIORITIES: dict[str, pb.Priority.ValueType] = {
    "high": pb.PRIORITY_HIGH,
    "normal": pb.PRIORITY_UNSPECIFIED,
    "low": pb.PRIORITY_LOW,
}


def submit(args: argparse.Namespace) -> int:
    """fbq submit TEXT | --file PATH | - | --jsonl FILE."""
    given = [args.text is not None, args.file is not None, args.jsonl is not None]
    if sum(given) != 1:
        raise CliError("give exactly one of: the text, - (stdin), --file PATH or --jsonl FILE")
    if args.jsonl is not None:
        if args.wait:
            raise CliError("--wait follows one submission; it does not go with --jsonl")
        if args.idempotency_key:
            raise CliError("with --jsonl, give each line its own idempotency_key")
        return submit_lines(args)
    request = pb.SubmitRequest(submission=defaults(args), delay=to_duration(args.delay))
    request.submission.content = read_content(args)
    request.submission.idempotency_key = args.idempotency_key or ""
    out = Output(json_mode=args.json)

    async def body(client: AsyncClient) -> int:
        reply = await client.submit(Submission.from_request(request))
        if not args.wait:
            if out.json_mode:
                out.data(reply_dict(reply))
            else:
                dup = " duplicate" if reply.duplicate else ""
                out.line(f"{reply.id} {status_name(reply.status)}{dup}")
            return 0
        dup = " (a duplicate)" if reply.duplicate else ""
        out.note(f"submitted {reply.id}{dup}; waiting for its result")
        final = await follow(client, reply.id, lambda info: out.note(*state_line(info)))
        return report_final(out, final)

    return connect.run(args, body)


def defaults(args: argparse.Namespace) -> pb.Submission:
    """The Submission fields given as options."""
    return pb.Submission(
        submitter_id=args.submitter,
        kind=args.kind or "",
        instructions=args.instructions or "",
        metadata=dict(args.metadata or ()),
        fairness_key=getattr(args, "fairness_key", None) or "",
        priority=PRIORITIES[getattr(args, "priority", None) or "normal"],
    )


def to_duration(seconds: float | None) -> Duration | None:
    if not seconds:
        return None
    value = Duration()
    value.FromNanoseconds(round(seconds * 1e9))
    return value


def read_content(args: argparse.Namespace) -> str:
    if args.file is not None:
        return read_text(args.file)
    return sys.stdin.read() if args.text == "-" else str(args.text)


def read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text") from None


def reply_dict(reply: Submitted) -> dict[str, Any]:
    return {"id": reply.id, "status": status_name(reply.status), "duplicate": reply.duplicate}


@dataclass
class Rejection:
    line: int
    code: str
    message: str
    field: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Batch:
    """The lines of a JSON Lines file: requests to send, and those refused before sending."""

    requests: list[pb.SubmitRequest] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the line number of each request
    rejected: list[Rejection] = field(default_factory=list)


def parse_lines(text: str, base: pb.Submission, delay: float | None) -> Batch:
    """One Submission per non-blank line; the options fill what a line leaves out.

    A line may also hold "delay" (seconds, or a duration like "5m").
    """
    batch = Batch()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            batch.requests.append(parse_line(line, base, delay))
            batch.lines.append(number)
        except ValueError as exc:
            batch.rejected.append(Rejection(number, "INVALID_ARGUMENT", str(exc)))
    return batch


def parse_line(line: str, base: pb.Submission, delay: float | None) -> pb.SubmitRequest:
    try:
        fields = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise ValueError("expected a JSON object with the Submission fields")
    line_delay = fields.pop("delay", None)
    if line_delay is not None:
        try:
            delay = duration(str(line_delay))
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"delay: {exc}") from None
    submission = pb.Submission()
    try:
        json_format.ParseDict(fields, submission)
    except json_format.ParseError as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    for name in ("submitter_id", "kind", "instructions", "fairness_key"):
        if not getattr(submission, name):
            setattr(submission, name, getattr(base, name))
    if not submission.priority:
        submission.priority = base.priority
    for key, value in base.metadata.items():
        submission.metadata.setdefault(key, value)
    return pb.SubmitRequest(submission=submission, delay=to_duration(delay))


def submit_lines(args: argparse.Namespace) -> int:
    """Send every line in SubmitBatch calls (submit_many) with a progress bar; the counts."""
    batch = parse_lines(read_text(args.jsonl), defaults(args), args.delay)
    out = Output(json_mode=args.json)
    submissions = [Submission.from_request(request) for request in batch.requests]

    async def body(client: AsyncClient) -> int:
        accepted: list[tuple[int, Submitted]] = []
        rejected = list(batch.rejected)
        progress = Progress(
            TextColumn("submitting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out.err,
            disable=not out.err.is_terminal,
        )
        step = client.limits.max_items * client.max_in_flight
        with progress:
            task = progress.add_task("submit", total=len(submissions))
            for start in range(0, len(submissions), step):
                results = await client.submit_many(submissions[start : start + step])
                lines = batch.lines[start : start + step]
                for line, result in zip(lines, results, strict=True):
                    if isinstance(result, SubmitFailed):
                        error = result.error
                        code = error.code.name if error.code else "UNKNOWN"
                        rejected.append(Rejection(line, code, str(error), error.field))
                    else:
                        accepted.append((line, result))
                progress.advance(task, len(results))
        rejected.sort(key=lambda r: r.line)
        report_lines(out, accepted, rejected)
        return 1 if rejected else 0

    return connect.run(args, body)


def report_lines(
    out: Output, accepted: Sequence[tuple[int, Submitted]], rejected: list[Rejection]
) -> None:
    duplicates = sum(1 for _, reply in accepted if reply.duplicate)
    if out.json_mode:
        out.data(
            {
                "accepted": len(accepted) - duplicates,
                "duplicates": duplicates,
                "rejected": len(rejected),
                "submissions": [{"line": line, **reply_dict(r)} for line, r in accepted],
                "errors": [vars(r) for r in rejected],
            }
        )
        return
    out.line(
        f"accepted {len(accepted) - duplicates}, duplicates {duplicates}, rejected {len(rejected)}"
    )
    for rejection in rejected:
        out.line(str(rejection))
