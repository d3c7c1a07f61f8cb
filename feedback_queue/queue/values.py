"""What the queue's calls answer: plain frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from feedback_queue.errors import InvalidSubmission
from feedback_queue.fairness import Quota, validate_key
from feedback_queue.job import Job, Status
from feedback_queue.v1 import queue_pb2 as pb

# Page sizes a listing accepts.
MAX_PAGE = 500


@dataclass(frozen=True)
class Owner:
    """Who submits: the principal recorded with each submission (`name`, "" for none), and the
    namespace of its idempotency keys (`scope`, "" for the unscoped one of before roles)."""

    name: str = ""
    scope: str = ""

    def idempotency_key(self, key: str) -> str:
        """`key` in this owner's namespace: one principal can neither take nor probe another's
        keys. Principal names hold no line break, so scoped keys never meet."""
        return f"{self.scope}\n{key}" if self.scope and key else key


NOBODY = Owner()


@dataclass(frozen=True)
class CancelFilter:
    """Which WAITING or DELAYED submissions a filter cancel stops: those of `submitter_id`,
    of fairness key `fairness_key`, or both (each given one must match), in `statuses`."""

    submitter_id: str = ""
    fairness_key: str = ""
    # Status numbers (a request's may be any): WAITING, DELAYED or both.
    statuses: frozenset[int] = frozenset({Status.WAITING, Status.DELAYED})

    def __post_init__(self) -> None:
        if not (self.submitter_id or self.fairness_key):
            raise InvalidSubmission(
                "filter", "give a submitter_id or a fairness_key (or both) to match"
            )
        for name in ("submitter_id", "fairness_key"):
            if value := getattr(self, name):
                validate_key(value, f"filter.{name}")
        if not self.statuses or not self.statuses <= {Status.WAITING, Status.DELAYED}:
            raise InvalidSubmission(
                "filter.statuses", "may hold WAITING and DELAYED only (empty means both)"
            )


@dataclass(frozen=True)
class EnqueueResult:
    id: str
    status: Status
    duplicate: bool


@dataclass(frozen=True)
class Taken:
    """What a take or wait found: jobs, or why there are none."""

    jobs: list[Job]
    paused: bool = False
    # Seconds until the global rate limit allows another start (0: not limited).
    wait: float = 0.0
    # With no jobs: seconds until a lane held for its key's rate may start (0: none is held
    # so); an idle worker waits no longer than that (wait_for_work).
    held: float = 0.0


# A finished attempt to complete: job id, the attempt's fence token (`Job.token`), result.
Ack = tuple[str, str, str]


@dataclass(frozen=True)
class Failure:
    """A failed attempt: the job as reserved, what went wrong, and whether retrying can help."""

    job: Job
    error: str
    permanent: bool = False
    # At least this long before the next attempt (e.g. an HTTP Retry-After), in seconds.
    retry_after: float = 0.0


@dataclass(frozen=True)
class QueueStats:
    waiting: int = 0
    active: int = 0
    delayed: int = 0
    completed: int = 0
    failed: int = 0
    workers: int = 0
    paused: bool = False
    enqueued_total: int = 0
    failed_total: int = 0
    retried_total: int = 0
    recovered_total: int = 0
    cancelled_total: int = 0

    def to_proto(self) -> pb.QueueStats:
        return pb.QueueStats(
            waiting=self.waiting,
            active=self.active,
            delayed=self.delayed,
            completed=self.completed,
            failed=self.failed,
            workers=self.workers,
            paused=self.paused,
            enqueued_total=self.enqueued_total,
            failed_total=self.failed_total,
            retried_total=self.retried_total,
            recovered_total=self.recovered_total,
            cancelled_total=self.cancelled_total,
        )


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    next_cursor: str
    total: int

    @classmethod
    def of(cls, jobs: list[Job], offset: int, limit: int, total: int) -> Page:
        """The page at `offset`; its cursor leads to the next one, if there is more."""
        more = offset + limit < total
        return cls(jobs, str(offset + limit) if more else "", total)


# A listing cursor is an offset: ASCII digits, no more of them than any real listing needs
# (a longer one is no token of ours, and int() of thousands of digits is slow or refused).
MAX_CURSOR_DIGITS = 15


def page_window(cursor: str, limit: int) -> tuple[int, int]:
    """Offset and size of the page a listing cursor (from `Page.next_cursor`) asks for."""
    if cursor and not (len(cursor) <= MAX_CURSOR_DIGITS and cursor.isascii() and cursor.isdigit()):
        raise InvalidSubmission(
            "page_token",
            "not a token from a previous page: pass the last page's next_page_token, "
            "or none for the first page",
        )
    return int(cursor or 0), max(1, min(limit, MAX_PAGE))


@dataclass(frozen=True)
class ServerInfo:
    """INFO of the Redis server and the round trip of one PING."""

    info: dict[str, object]
    latency_ms: float


@dataclass(frozen=True)
class KeyShare:
    """What one fairness key has in the queue now; key "" is the sum of the keys not listed."""

    key: str
    waiting: int
    active: int
    # Starts since the key last had nothing waiting (the sweep then forgets the count).
    started: int
    quota: Quota
    # True when the key has a quota of its own (set_quota), False when `quota` is the default.
    custom: bool = False


@dataclass(frozen=True)
class FairShareView:
    """The fairness keys with the most waiting work, the rest summed, and the quotas."""

    keys: list[KeyShare]
    other: KeyShare
    keys_waiting: int
    # Waiting submissions per priority level.
    waiting_high: int
    waiting_normal: int
    waiting_low: int
    default: Quota
    # Every key with a quota of its own, by key (at most MAX_QUOTAS_LISTED).
    quotas: dict[str, Quota]
