"""`fbq check`: the queue's invariants, read straight from Redis (not through ingest).

Every shard of FBQ_SHARDS is checked. With --repair, what is safe to fix is fixed by scripts
that re-check it, then the queue is checked again: the exit code says whether anything remains.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from feedback_queue.check import Violation
from feedback_queue.cli.commands.errors import CliError
from feedback_queue.cli.commands.output import Output
from feedback_queue.connection import create_client
from feedback_queue.errors import QueueError
from feedback_queue.queue.check import check as check_queue
from feedback_queue.queue.check import repair
from feedback_queue.settings import load
from feedback_queue.sharded import shard_queues


def check(args: argparse.Namespace) -> int:
    """Print the violations (or that there are none); 1 when any remains."""
    settings = load("fbq check")
    out = Output(json_mode=args.json)

    async def main() -> tuple[int, list[Violation], list[Violation]]:
        client = create_client(settings.redis)
        try:
            jobs, remaining, repaired = 0, [], []
            for queue in shard_queues(settings, client):
                report = await check_queue(queue)
                if args.repair and any(v.repairable for v in report.violations):
                    await repair(queue, [v for v in report.violations if v.repairable])
                    before = report.violations
                    report = await check_queue(queue)
                    left = {v.key for v in report.violations}
                    repaired += [v for v in before if v.key not in left]
                jobs += report.jobs
                remaining += report.violations
            return jobs, remaining, repaired
        except QueueError as exc:
            raise CliError(str(exc)) from None
        finally:
            await client.aclose()

    jobs, remaining, repaired = asyncio.run(main())
    if args.json:
        out.data(
            {
                "jobs": jobs,
                "violations": [_as_dict(v) for v in remaining],
                "repaired": [_as_dict(v) for v in repaired],
            }
        )
    else:
        for v in repaired:
            out.line(f"repaired: {v.message}")
        for v in remaining:
            out.line(f"{v.kind.value}: {v.message}")
        if remaining:
            fixable = sum(1 for v in remaining if v.repairable)
            hint = f" ({fixable} fixable with --repair)" if fixable and not args.repair else ""
            out.note(f"{len(remaining)} violation(s) in {jobs} jobs{hint}")
        else:
            out.line(f"no violations in {jobs} jobs")
    return 1 if remaining else 0


def _as_dict(v: Violation) -> dict[str, Any]:
    return {"kind": v.kind.value, "subject": v.subject, "message": v.message}
