"""fbq status and fbq stats: look at one submission or at the whole queue."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import datetime

from rich.live import Live
from rich.table import Table
from rich.text import Text

from feedback_queue.cli.commands import connect
from feedback_queue.cli.commands.output import (
    Output,
    info_dict,
    make_table,
    stats_dict,
    styled_status,
    timestamp,
)
from feedback_queue.client import AsyncClient
from feedback_queue.client.values import FINAL
from feedback_queue.v1 import queue_pb2 as pb

STATS_EVERY = 1.0


def status(args: argparse.Namespace) -> int:
    """fbq status ID [--watch]."""
    out = Output(json_mode=args.json)

    async def body(client: AsyncClient) -> int:
        if args.watch:

            def show(info: pb.SubmissionInfo) -> None:
                if out.json_mode:
                    out.data(info_dict(info))
                else:
                    out.line(*state_line(info))

            final = await follow(client, args.id, show)
            return report_final(out, final, json_done=True)
        info = await client.get(args.id)
        if out.json_mode:
            out.data(info_dict(info))
        else:
            print_info(out, info)
        return 0

    return connect.run(args, body)


async def follow(
    client: AsyncClient, job_id: str, each: Callable[[pb.SubmissionInfo], None]
) -> pb.SubmissionInfo:
    """Watch a submission until COMPLETED, FAILED or CANCELLED, calling `each` on every change
    (a watch that breaks is made again by the client; one that cannot be raises its error)."""
    last: pb.SubmissionInfo | None = None
    async for info in client.watch(job_id):
        each(info)
        last = info
    assert last is not None
    assert last.status in FINAL
    return last


def report_final(out: Output, info: pb.SubmissionInfo, *, json_done: bool = False) -> int:
    """Print the result (stdout) or the error (stderr); 0 when COMPLETED, 1 when FAILED or
    CANCELLED."""
    completed = info.status == pb.COMPLETED
    if out.json_mode:
        if not json_done:
            out.data(info_dict(info))
    elif completed:
        out.line(info.result)
    elif info.status == pb.CANCELLED:
        out.note(f"fbq: submission {info.id} was {info.last_error}")
    else:
        out.note(
            f"fbq: submission {info.id} FAILED after {info.attempts} "
            f"attempt{'s' if info.attempts != 1 else ''}: {info.last_error}"
        )
    return 0 if completed else 1


def state_line(info: pb.SubmissionInfo) -> list[str | Text]:
    """One line per state change: time, status, attempt, worker, error."""
    parts: list[str | Text] = [datetime.now().strftime("%H:%M:%S "), styled_status(info.status)]
    if info.attempts:
        parts.append(f" attempt {info.attempts}/{info.max_attempts}")
    if info.status == pb.ACTIVE and info.worker:
        parts.append(f" on {info.worker}")
    if info.status == pb.ACTIVE and info.HasField("progress"):
        parts.append(f": {progress_text(info.progress)}")
    if info.status == pb.DELAYED and info.HasField("run_at"):
        parts.append(f" until {timestamp(info.run_at)}")
    if info.last_error and info.status != pb.COMPLETED:
        parts.append(f": {info.last_error}")
    return parts


def progress_text(progress: pb.Progress) -> str:
    """'40% summarising', '40%' or 'summarising'."""
    shown = [f"{progress.percent:g}%"] if progress.HasField("percent") else []
    return " ".join([*shown, progress.message]).strip()


def print_info(out: Output, info: pb.SubmissionInfo) -> None:
    sub = info.submission
    rows: list[tuple[str, str | Text]] = [
        ("id", info.id),
        ("status", styled_status(info.status)),
        ("submitter", sub.submitter_id),
        ("kind", sub.kind),
        ("attempts", f"{info.attempts}/{info.max_attempts}"),
    ]
    for label, name in (
        ("enqueued", "enqueued_at"),
        ("started", "started_at"),
        ("finished", "finished_at"),
        ("runs at", "run_at"),
    ):
        if info.HasField(name):  # type: ignore[arg-type]
            rows.append((label, timestamp(getattr(info, name))))
    rows += [
        ("worker", info.worker),
        ("progress", progress_text(info.progress) if info.HasField("progress") else ""),
        ("partial", info.progress.partial_result),
        ("metadata", ", ".join(f"{k}={v}" for k, v in sorted(sub.metadata.items()))),
        ("last error", info.last_error),
        ("result", info.result),
    ]
    for label, value in rows:
        if value:
            out.line(f"{label:<11}", value)


def stats(args: argparse.Namespace, *, every: float = STATS_EVERY) -> int:
    """fbq stats [--watch]."""
    out = Output(json_mode=args.json)

    async def body(client: AsyncClient) -> int:
        async def fetch() -> pb.QueueStats:
            return await client.stats()

        if not args.watch:
            show_stats(out, await fetch())
            return 0
        if out.json_mode or not out.out.is_terminal:
            while True:  # until Ctrl-C
                show_stats(out, await fetch())
                await asyncio.sleep(every)
        with Live(stats_table(await fetch()), console=out.out, auto_refresh=False) as live:
            while True:
                await asyncio.sleep(every)
                live.update(stats_table(await fetch()), refresh=True)

    return connect.run(args, body)


def show_stats(out: Output, stats: pb.QueueStats) -> None:
    if out.json_mode:
        out.data(stats_dict(stats))
    else:
        out.out.print(stats_table(stats))


def stats_table(stats: pb.QueueStats) -> Table:
    now = [
        ("waiting", stats.waiting),
        ("active", stats.active),
        ("delayed", stats.delayed),
        ("failed", stats.failed),
        ("workers", stats.workers),
    ]
    totals = [
        ("enqueued", stats.enqueued_total),
        ("completed", stats.completed),
        ("failed", stats.failed_total),
        ("retried", stats.retried_total),
        ("recovered", stats.recovered_total),
        ("cancelled", stats.cancelled_total),
    ]
    paused = Text("paused", style="bold red") if stats.paused else Text("running", style="green")
    table = make_table(["queue", ""], [*((k, str(v)) for k, v in now), ("state", paused)])
    table.columns[1].justify = "right"
    table.add_section()
    table.add_row(Text("since start", style="bold"), "")
    for name, value in totals:
        table.add_row(name, str(value))
    return table
