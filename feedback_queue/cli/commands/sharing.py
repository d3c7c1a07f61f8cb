"""fbq keys and fbq quota: the fair share of the workers among fairness keys, and the per-key
quotas an operator changes at run time."""

from __future__ import annotations

import argparse
from typing import Any

from rich.text import Text

from feedback_queue.cli.commands import connect
from feedback_queue.cli.commands.errors import CliError
from feedback_queue.cli.commands.output import Output
from feedback_queue.client import AsyncClient
from feedback_queue.v1 import queue_pb2 as pb

# What GetFairShare lists of the own quotas at most: `fbq quota KEY` looks the key up there.
QUOTAS_LISTED = 1000
NO_LIMIT = "-"


def keys(args: argparse.Namespace) -> int:
    """fbq keys [--top N]: the keys with the most waiting work, the rest, the defaults."""
    out = Output(json_mode=args.json)
    if args.top > QUOTAS_LISTED:
        raise CliError(f"--top: at most {QUOTAS_LISTED}")

    async def body(client: AsyncClient) -> int:
        share = await client.fair_share(args.top)
        if out.json_mode:
            out.data(fair_share_dict(share))
            return 0
        print_fair_share(out, share)
        return 0

    return connect.run(args, body)


def quota(args: argparse.Namespace) -> int:
    """fbq quota KEY [--weight W] [--rate R] [--max-active N] [--reset]."""
    out = Output(json_mode=args.json)
    values = {"weight": args.weight, "rate": args.rate, "max_active": args.max_active}
    given = {name: value for name, value in values.items() if value is not None}
    if args.reset and given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise CliError(f"--reset gives the key the defaults: leave out {options}")

    async def body(client: AsyncClient) -> int:
        if given or args.reset:
            now = await client.set_quota(args.key, reset=args.reset, **given)
        else:
            now = quota_of(await client.fair_share(1), args.key)
        if out.json_mode:
            out.data(quota_dict(now))
        else:
            out.line(quota_line(now))
        return 0

    return connect.run(args, body)


def quota_of(share: pb.FairShare, key: str) -> pb.KeyQuota:
    """`key`'s quota in force: its own when it has one, else the defaults."""
    for own in share.quotas:
        if own.key == key:
            return own
    default = pb.KeyQuota()
    default.CopyFrom(share.defaults)
    default.key = key
    default.custom = False
    return default


def limit(value: float) -> str:
    return NO_LIMIT if value == 0 else f"{value:g}"


def quota_line(q: pb.KeyQuota) -> Text:
    """quota of school-a: weight 2, rate 5/s, max_active - (its own)"""
    rate = "no limit" if q.rate == 0 else f"{q.rate:g}/s"
    active = "no limit" if q.max_active == 0 else str(q.max_active)
    whose = "its own" if q.custom else "the defaults"
    return Text.assemble(
        f"quota of {q.key}: weight {q.weight:g}, rate {rate}, max_active {active} ",
        Text(f"({whose})", style="dim"),
    )


def print_fair_share(out: Output, share: pb.FairShare) -> None:
    rows: list[list[str | Text]] = [
        [
            k.key,
            str(k.waiting),
            str(k.active),
            str(k.started),
            f"{k.quota.weight:g}",
            limit(k.quota.rate),
            limit(k.quota.max_active),
            Text("own", style="bold") if k.quota.custom else Text("default", style="dim"),
        ]
        for k in share.keys
    ]
    o = share.other
    blank = ["", "", "", ""]
    rows.append(
        [Text("other", style="italic"), str(o.waiting), str(o.active), str(o.started), *blank]
    )
    columns = ["key", "waiting", "active", "started", "weight", "rate", "max_active", "quota"]
    if not share.keys and not (o.waiting or o.active):
        out.line("no fairness key has waiting or active work")
    else:
        out.table(columns, rows)
    d = share.defaults
    out.line(
        f"{share.keys_waiting} key{'' if share.keys_waiting == 1 else 's'} with waiting work; "
        f"waiting by priority: high {share.waiting_high}, normal {share.waiting_normal}, "
        f"low {share.waiting_low}"
    )
    out.line(
        f"defaults: weight {d.weight:g}, rate {limit(d.rate)}, max_active {limit(d.max_active)}; "
        f"{len(share.quotas)} key{'' if len(share.quotas) == 1 else 's'} with a quota of its own"
    )


def quota_dict(q: pb.KeyQuota) -> dict[str, Any]:
    return {
        "key": q.key,
        "weight": q.weight,
        "rate": q.rate,
        "max_active": q.max_active,
        "custom": q.custom,
    }


def share_dict(k: pb.KeyShare, *, with_quota: bool = True) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "key": k.key,
        "waiting": k.waiting,
        "active": k.active,
        "started": k.started,
    }
    if with_quota:
        counts.update({name: v for name, v in quota_dict(k.quota).items() if name != "key"})
    return counts


def fair_share_dict(share: pb.FairShare) -> dict[str, Any]:
    """Proto field names, numbers as numbers; `other` without a quota (it is many keys)."""
    defaults = quota_dict(share.defaults)
    del defaults["key"], defaults["custom"]
    other = share_dict(share.other, with_quota=False)
    del other["key"]
    return {
        "keys": [share_dict(k) for k in share.keys],
        "other": other,
        "keys_waiting": share.keys_waiting,
        "waiting_by_priority": {
            "high": share.waiting_high,
            "normal": share.waiting_normal,
            "low": share.waiting_low,
        },
        "defaults": defaults,
        "quotas": [quota_dict(q) for q in share.quotas],
    }
