"""Fair share at the gRPC boundary: GetFairShare's and SetKeyQuota's requests checked, and the
core's view (feedback_queue/queue/values.py) as the proto's FairShare and KeyQuota."""

from __future__ import annotations

from dataclasses import dataclass

from feedback_queue.errors import InvalidSubmission
from feedback_queue.fairness import Quota
from feedback_queue.queue import FairShareView, KeyShare
from feedback_queue.v1 import queue_pb2 as pb

DEFAULT_TOP = 10
MAX_TOP = 1000


def top_of(request: pb.GetFairShareRequest) -> int:
    """How many keys to list: 0 means DEFAULT_TOP; more than MAX_TOP is refused."""
    if request.top > MAX_TOP:
        raise InvalidSubmission("top", f"at most {MAX_TOP} keys (0 lists {DEFAULT_TOP})")
    return request.top or DEFAULT_TOP


@dataclass(frozen=True)
class QuotaChange:
    """What a SetKeyQuota asks: the values it sets (None keeps the current one), or a reset."""

    key: str
    weight: float | None = None
    rate: float | None = None
    max_active: int | None = None
    reset: bool = False

    @classmethod
    def of(cls, request: pb.SetKeyQuotaRequest) -> QuotaChange:
        """The change a request asks for; InvalidSubmission when it asks for none, or for a
        reset together with values."""
        values = {
            name: getattr(request, name) if request.HasField(name) else None
            for name in ("weight", "rate", "max_active")
        }
        given = [name for name, value in values.items() if value is not None]
        if request.reset and given:
            raise InvalidSubmission(
                "reset",
                f"give it alone (it drops the key's own quota), not with {', '.join(given)}",
            )
        if not request.reset and not given:
            raise InvalidSubmission(
                "weight", "none given: set at least one of weight, rate, max_active, or reset"
            )
        max_active = values["max_active"]
        return cls(
            request.key,
            values["weight"],
            values["rate"],
            None if max_active is None else int(max_active),
            request.reset,
        )


def key_quota(key: str, quota: Quota, custom: bool) -> pb.KeyQuota:
    return pb.KeyQuota(
        key=key,
        weight=quota.weight,
        rate=quota.rate,
        max_active=quota.max_active,
        custom=custom,
    )


def key_share(share: KeyShare) -> pb.KeyShare:
    return pb.KeyShare(
        key=share.key,
        # Never negative on the wire (uint64), even if counts moved between two reads.
        waiting=max(share.waiting, 0),
        active=max(share.active, 0),
        started=max(share.started, 0),
        quota=key_quota(share.key, share.quota, share.custom),
    )


def fair_share(view: FairShareView) -> pb.FairShare:
    return pb.FairShare(
        keys=[key_share(share) for share in view.keys],
        other=key_share(view.other),
        keys_waiting=view.keys_waiting,
        waiting_high=view.waiting_high,
        waiting_normal=view.waiting_normal,
        waiting_low=view.waiting_low,
        defaults=key_quota("", view.default, False),
        quotas=[key_quota(key, quota, True) for key, quota in sorted(view.quotas.items())],
    )
