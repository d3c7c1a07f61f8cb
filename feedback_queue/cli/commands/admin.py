"""fbq dead list|retry|delete, fbq pause, fbq resume: steer the queue through AdminService."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text

from feedback_queue.cli.commands import connect
from feedback_queue.cli.commands.errors import CliError
from feedback_queue.cli.commands.output import Output, info_dict, timestamp
from feedback_queue.client import AsyncClient, FbqError, Unauthenticated, Unavailable
from feedback_queue.v1 import queue_pb2 as pb


def dead_list(args: argparse.Namespace) -> int:
    """One page of FAILED submissions with their last error."""
    out = Output(json_mode=args.json)

    async def body(client: AsyncClient) -> int:
        page = await client.list_submissions(
            pb.FAILED, page_size=args.limit, page_token=args.cursor or ""
        )
        if out.json_mode:
            out.data(
                {
                    "submissions": [info_dict(info) for info in page.submissions],
                    "next_cursor": page.next_page_token or None,
                    "total": page.total,
                }
            )
            return 0
        if not page.submissions:
            out.line("no failed submissions" if not page.total else "no more failed submissions")
            return 0
        out.table(
            ["id", "submitter", "attempts", "failed at", "last error"],
            (
                [
                    info.id,
                    info.submission.submitter_id,
                    f"{info.attempts}/{info.max_attempts}",
                    timestamp(info.finished_at) if info.HasField("finished_at") else "",
                    Text(info.last_error, style="red"),
                ]
                for info in page.submissions
            ),
        )
        shown = f"{len(page.submissions)} of {page.total} failed"
        if page.next_page_token:
            out.note(f"{shown}; next page: fbq dead list --cursor {page.next_page_token}")
        else:
            out.note(shown)
        return 0

    return connect.run(args, body)


def dead_retry(args: argparse.Namespace) -> int:
    """Run FAILED submissions again (attempts start over)."""
    if bool(args.ids) == bool(args.all):
        raise CliError("give the ids to retry, or --all (not both)")
    out = Output()

    async def body(client: AsyncClient) -> int:
        if args.all:
            retried = await client.retry_failed()
            plural = "" if retried == 1 else "s"
            out.line(f"retried {retried} failed submission{plural}")
            return 0

        async def retry(job_id: str) -> None:
            await client.retry_failed(job_id)

        return await each_id(out, args.ids, retry, "retried")

    return connect.run(args, body)


def dead_delete(args: argparse.Namespace) -> int:
    """Remove submissions for good (FAILED ones, or any that is not ACTIVE)."""
    out = Output()

    async def body(client: AsyncClient) -> int:
        return await each_id(out, args.ids, client.delete, "deleted")

    return connect.run(args, body)


async def each_id(
    out: Output,
    ids: Sequence[str],
    action: Callable[[str], Awaitable[str | None]],
    done: str,
) -> int:
    """Apply `action` to every id and say `done` of it (or what the action answers instead);
    one refusal does not stop the others. 1 if any was refused."""
    refused = 0
    for job_id in ids:
        try:
            answer = await action(job_id)
        except (Unavailable, Unauthenticated):
            raise  # the rest would fail the same way
        except FbqError as exc:
            refused += 1
            out.note(f"fbq: error: {exc}")
        else:
            out.line(f"{answer or done} {job_id}")
    return 1 if refused else 0


def pause(args: argparse.Namespace) -> int:
    """Workers stop taking new work within a second; running work finishes."""
    return _set_paused(args, paused=True)


def resume(args: argparse.Namespace) -> int:
    return _set_paused(args, paused=False)


def _set_paused(args: argparse.Namespace, *, paused: bool) -> int:
    out = Output()

    async def body(client: AsyncClient) -> int:
        now_paused = await (client.pause() if paused else client.resume())
        if now_paused:
            out.line("queue paused: workers take no new work; running work finishes")
        else:
            out.line("queue running: workers take work again")
        return 0

    return connect.run(args, body)
