"""The parser of `fbq check` (parser.py stays one screenful per command family)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

RAW = argparse.RawDescriptionHelpFormatter


def add_check(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
    handler: Callable[[argparse.Namespace], int],
) -> None:
    check = commands.add_parser(
        "check",
        parents=parents,
        help="check that every submission's status matches the structure holding it",
        description="Read the queue straight from Redis (REDIS_URL, FBQ_QUEUE, FBQ_SHARDS) and "
        "check its invariants: each submission's status against the list or set holding it, "
        "the started entries, and processing lists of unregistered workers. Exit 0 when none "
        "is broken, 1 when any is (after --repair: when any remains).",
        epilog="examples:\n"
        "  fbq check\n"
        "  fbq check --json | jq '.violations[].message'\n"
        "  fbq check --repair   # orphan processing lists and lost WAITING jobs back to\n"
        "                       # waiting, stale started entries dropped\n"
        "\n"
        "Read-only without --repair: run it as the fbq-admin Redis user (deploy/README.md).",
        formatter_class=RAW,
    )
    check.add_argument(
        "--repair",
        action="store_true",
        help="fix what is safe to fix (each fix re-checks the state it changes); report the rest",
    )
    check.set_defaults(run=handler, client=True)
