"""fbq cancel: stop submissions by id, or every WAITING or DELAYED one a filter matches."""

from __future__ import annotations

import argparse
import asyncio
import sys

from feedback_queue.cli.commands import connect
from feedback_queue.cli.commands.admin import each_id
from feedback_queue.cli.commands.errors import CliError
from feedback_queue.cli.commands.output import Output
from feedback_queue.client import AsyncClient
from feedback_queue.v1 import queue_pb2 as pb

STATES = {"waiting": pb.WAITING, "delayed": pb.DELAYED}


def cancel(args: argparse.Namespace) -> int:
    """By id: each cancelled (or already); by filter: count first, then cancel on --yes (or at
    the prompt, on a terminal)."""
    by_filter = bool(args.submitter or args.key)
    if bool(args.ids) == by_filter:
        raise CliError("give the ids to cancel, or --submitter and/or --key (not both)")
    if args.ids and (args.dry_run or args.only):
        raise CliError("--dry-run and --only go with --submitter or --key")
    out = Output()
    statuses = [STATES[s] for s in args.only or ()]

    async def by_ids(client: AsyncClient) -> int:
        async def one(job_id: str) -> str:
            return "cancelled" if await client.cancel(job_id) else "was cancelled already:"

        return await each_id(out, args.ids, one, "cancelled")

    async def matching(client: AsyncClient) -> int:
        async def matches(dry_run: bool) -> int:
            return await client.cancel_matching(
                submitter_id=args.submitter or "",
                fairness_key=args.key or "",
                statuses=statuses,
                dry_run=dry_run,
            )

        count = await matches(dry_run=True)
        if args.dry_run or count == 0:
            shown = f"{_describe(args, count)} would be cancelled" if count else "nothing matches"
            out.line(shown)
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                raise CliError(f"{_describe(args, count)} match: add --yes to cancel them")
            answer = await asyncio.to_thread(input, f"cancel {_describe(args, count)}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                out.line("nothing cancelled")
                return 1
        done = await matches(dry_run=False)
        out.line(f"cancelled {_describe(args, done)}")
        if done != count:
            out.note(f"({count} matched a moment before: work was taken or submitted meanwhile)")
        return 0

    return connect.run(args, matching if by_filter else by_ids)


def _describe(args: argparse.Namespace, count: int) -> str:
    """'3 waiting or delayed submissions of submitter bob', '1 waiting submission under key k'."""
    states = " or ".join(args.only) if args.only else "waiting or delayed"
    noun = "submission" if count == 1 else "submissions"
    parts = [f"of submitter {args.submitter}" if args.submitter else ""]
    parts.append(f"under key {args.key}" if args.key else "")
    return " ".join(p for p in [f"{count} {states} {noun}", *parts] if p)
