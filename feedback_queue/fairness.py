"""Fair share: which fairness key a submission counts against, and the quotas of keys.

Waiting work lives in one lane per (priority, fairness key) (keys.py, scripts/lib/lanes.lua).
Workers start work from the lanes by weighted fair queueing: among the keys with waiting work,
each gets starts in proportion to its weight, whatever the depth of the others' backlogs.
Priorities are strict between levels and fair within one; a guard gives each lower level at
least one start in `guard` while higher levels are busy.

The rule for a submission's key is written once, in Lua (scripts/lib/submission.lua): the
submission's `fairness_key` field, or its `submitter_id` when that is empty. `assign_key` below
fills `fairness_key` before the submission is stored when the operator chose another source
(FBQ_FAIRNESS_KEY), so the stored submission alone says where it belongs: a reaped, retried or
promoted job goes back to its own key without asking any setting.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from feedback_queue.errors import InvalidSubmission
from feedback_queue.v1 import queue_pb2 as pb

KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
KEY_RULE = "1-128 characters of A-Z a-z 0-9 . _ : @ -"
# With FBQ_FAIRNESS_KEY=none every submission shares this key: one lane, first in first out.
SHARED_KEY = "*"
SOURCES = ("submitter_id", "kind", "none")
# The priority levels of the lanes (scripts/lib/submission.lua): 1 high, 2 normal, 3 low.
LEVELS = (1, 2, 3)
METADATA_SOURCE = "metadata."
# Bounds of a quota's numbers: the scheduler's virtual clock advances 1/weight per start, so a
# weight far below 1e-3 would let one start jump the key far behind every other.
MIN_WEIGHT, MAX_WEIGHT = 0.001, 1000.0
MAX_RATE = 1_000_000.0
MAX_ACTIVE = 1_000_000


@dataclass(frozen=True, slots=True)
class Quota:
    """A fairness key's share: weight among the keys with waiting work, starts per second (0:
    no limit), and how many may be ACTIVE at once (0: no limit)."""

    weight: float = 1.0
    rate: float = 0.0
    max_active: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and MIN_WEIGHT <= self.weight <= MAX_WEIGHT):
            raise InvalidSubmission("weight", f"must be from {MIN_WEIGHT:g} to {MAX_WEIGHT:g}")
        if not (math.isfinite(self.rate) and 0 <= self.rate <= MAX_RATE):
            raise InvalidSubmission("rate", f"must be from 0 (no limit) to {MAX_RATE:g} per second")
        if not 0 <= self.max_active <= MAX_ACTIVE:
            raise InvalidSubmission("max_active", f"must be from 0 (no limit) to {MAX_ACTIVE}")

    def encode(self) -> str:
        """The form the quotas hash and the take script read: "weight rate max_active"."""
        return f"{self.weight!r} {self.rate!r} {self.max_active}"

    def encode_change(self, weight: bool, rate: bool, max_active: bool) -> str:
        """`encode`, with "-" for each value the change leaves as it is (set_quota.lua keeps the
        key's current one there)."""
        parts = zip(self.encode().split(), (weight, rate, max_active), strict=True)
        return " ".join(text if given else "-" for text, given in parts)

    @classmethod
    def decode(cls, text: str) -> Quota:
        weight, rate, max_active = text.split()
        return cls(float(weight), float(rate), int(max_active))


@dataclass(frozen=True, slots=True)
class Fairness:
    """How a queue shares its workers (QueueConfig.fairness)."""

    # Where a submission's key comes from when it names none: submitter_id, kind,
    # metadata.<label>, or none (one shared key: plain FIFO).
    source: str = "submitter_id"
    # The quota of every key without one of its own.
    default: Quota = field(default_factory=Quota)
    # Each lower priority level gets at least one start in this many while higher ones are busy.
    guard: int = 20
    # How far a key's turn may run ahead of the next key's, in starts at weight 1: a key of
    # weight w may start up to quantum x w in a row (1: strict turns, one start each).
    quantum: int = 4

    def __post_init__(self) -> None:
        label = self.source.removeprefix(METADATA_SOURCE)
        if self.source not in SOURCES and not (
            self.source.startswith(METADATA_SOURCE) and re.match(r"^[A-Za-z0-9._-]{1,64}$", label)
        ):
            raise ValueError(
                "expected submitter_id, kind, none or metadata.<label>, got " + repr(self.source)
            )
        if not 2 <= self.guard <= 1000:
            raise ValueError(f"the priority guard must be from 2 to 1000, got {self.guard}")
        if not 1 <= self.quantum <= 1000:
            raise ValueError(f"the fair share's quantum must be from 1 to 1000, got {self.quantum}")


def validate_key(key: str, name: str = "fairness_key") -> None:
    if not KEY_PATTERN.match(key):
        raise InvalidSubmission(name, f"must be {KEY_RULE}")


def assign_key(sub: pb.Submission, fairness: Fairness, field_name: str = "submission") -> None:
    """Check the submission's own fairness_key, or fill it from the configured source.

    Left empty when the key is the submitter_id: the stored default costs no bytes.
    """
    source = fairness.source
    if source == "none":
        sub.fairness_key = SHARED_KEY
        return
    if sub.fairness_key:
        validate_key(sub.fairness_key, f"{field_name}.fairness_key")
        return
    if source == "kind":
        sub.fairness_key = sub.kind or "default"
    elif source.startswith(METADATA_SOURCE):
        label = source[len(METADATA_SOURCE) :]
        value = sub.metadata.get(label, "")
        if value:
            # Named by the operator's choice: a value that is no valid key is the caller's
            # to fix, in the label it sent.
            validate_key(value, f"{field_name}.metadata[{label}]")
            sub.fairness_key = value
    if sub.fairness_key == sub.submitter_id:
        sub.fairness_key = ""
    if sub.fairness_key:
        validate_key(sub.fairness_key, f"{field_name}.fairness_key")
