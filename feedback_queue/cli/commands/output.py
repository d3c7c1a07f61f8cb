"""How the commands print: plain lines, JSON for scripts, tables; colour only on a terminal.

rich decides about colour: none when the stream is not a terminal or NO_COLOR is set. Text
from the server (errors, results, content) is printed as is, never parsed as markup.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table
from rich.text import Text

from feedback_queue.v1 import queue_pb2 as pb

STATUS_STYLES = {
    "WAITING": "cyan",
    "DELAYED": "cyan",
    "ACTIVE": "yellow",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
}
PIPE_WIDTH = 1000


class Output:
    """stdout for results, stderr for notes and progress."""

    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        # Made per command, so they see the streams of the moment (tests capture them).
        self.out = Console(highlight=False, soft_wrap=True, markup=False)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
        if not self.out.is_terminal:  # a pipe or a file: keep every table row on one line
            self.out.width = PIPE_WIDTH

    def line(self, *parts: str | Text) -> None:
        """One line on stdout; `Text` parts keep their style."""
        self.out.print(Text.assemble(*parts))

    def note(self, *parts: str | Text) -> None:
        """One line on stderr: what is happening, not the result."""
        self.err.print(Text.assemble(*parts))

    def data(self, value: object) -> None:
        """One JSON document on one line (JSON Lines when called repeatedly)."""
        sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[str | Text]]) -> None:
        self.out.print(make_table(columns, rows))


def make_table(columns: Sequence[str], rows: Iterable[Sequence[str | Text]]) -> Table:
    """Columns kept whole but the last, which wraps (on a terminal) when the row is too wide."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for number, column in enumerate(columns, start=1):
        table.add_column(column, no_wrap=number < len(columns), overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def status_name(status: int) -> str:
    return pb.Status.Name(status)  # type: ignore[arg-type]


def styled_status(status: int) -> Text:
    name = status_name(status)
    return Text(name, style=STATUS_STYLES.get(name, ""))


def timestamp(stamp: Timestamp) -> str:
    """ISO 8601 in UTC with milliseconds, as the gateway prints them."""
    moment = datetime.fromtimestamp(stamp.ToMilliseconds() / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def info_dict(info: pb.SubmissionInfo) -> dict[str, Any]:
    """A submission as JSON: proto field names; times ISO 8601, absent ones null."""
    sub = info.submission
    return {
        "id": info.id,
        "status": status_name(info.status),
        "submission": {
            "submitter_id": sub.submitter_id,
            "content": sub.content,
            "kind": sub.kind,
            "instructions": sub.instructions,
            "metadata": dict(sub.metadata),
            "idempotency_key": sub.idempotency_key,
        },
        "attempts": info.attempts,
        "max_attempts": info.max_attempts,
        **{
            name: timestamp(getattr(info, name)) if info.HasField(name) else None
            for name in ("enqueued_at", "started_at", "finished_at", "run_at")
        },
        "worker": info.worker,
        "last_error": info.last_error,
        "result": info.result,
        "progress": progress_dict(info.progress) if info.HasField("progress") else None,
        # A listing's (fbq dead list): content and instructions cut, no result; `fbq status`
        # shows one submission whole.
        **({"abridged": True} if info.abridged else {}),
    }


def stats_dict(stats: pb.QueueStats) -> dict[str, Any]:
    """Every counter of QueueStats by its proto name (numbers, not the strings of proto JSON)."""
    return {f.name: getattr(stats, f.name) for f in stats.DESCRIPTOR.fields}


def progress_dict(progress: pb.Progress) -> dict[str, Any]:
    """A running attempt's progress as JSON: percent null when it gave none."""
    return {
        "percent": progress.percent if progress.HasField("percent") else None,
        "message": progress.message,
        "partial_result": progress.partial_result,
        "updated_at": timestamp(progress.updated_at),
    }
