"""The parser of `fbq keys` and `fbq quota`: the fair share of the workers among fairness keys
(parser.py stays one screenful per command family)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from feedback_queue.cli.commands.parsing import non_negative_int, number, positive_int

RAW = argparse.RawDescriptionHelpFormatter
Handler = Callable[[argparse.Namespace], int]


def add_sharing(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
    keys_handler: Handler,
    quota_handler: Handler,
) -> None:
    keys = commands.add_parser(
        "keys",
        parents=parents,
        help="fair share: the fairness keys with the most waiting work, and their quotas",
        description="Show the fairness keys with the most waiting work (most first): waiting, "
        "active, started (since the key last had nothing waiting) and the quota in force (weight, "
        "rate, max_active); then every other key summed, the waiting work per priority, and "
        "the default quota.",
        epilog="examples:\n"
        "  fbq keys\n"
        "  fbq keys --top 50\n"
        "  fbq keys --json | jq '.keys[] | select(.waiting > 100) | .key'\n"
        "\n"
        "rate and max_active of 0 mean no limit (shown as -); quota 'own' marks a key whose\n"
        "quota was set with fbq quota, 'default' one that has the defaults (FBQ_FAIR_*).",
        formatter_class=RAW,
    )
    keys.add_argument(
        "--top",
        type=positive_int,
        default=10,
        metavar="N",
        help="how many keys to list, 1-1000 (10)",
    )
    keys.set_defaults(run=keys_handler, client=True)

    quota = commands.add_parser(
        "quota",
        parents=parents,
        help="show or change a fairness key's weight, rate and max_active",
        description="Change a fairness key's quota at run time (it takes effect at the next "
        "start) and print the quota now in force. Values not given keep their current ones. "
        "Without options, print the key's quota. Changing needs an operator or admin token.",
        epilog="examples:\n"
        "  fbq quota school-a                       # the quota in force\n"
        "  fbq quota school-a --weight 4            # 4x the share of a weight-1 key\n"
        "  fbq quota tenant:free --rate 5 --max-active 2\n"
        "  fbq quota school-a --reset               # back to the defaults\n"
        "\n"
        "weight: 0.001-1000; rate: starts per second, 0 = no limit; max-active: 0 = no limit.",
        formatter_class=RAW,
    )
    quota.add_argument("key", metavar="KEY", help="the fairness key (e.g. a submitter or tenant)")
    quota.add_argument("--weight", type=number, metavar="W", help="share relative to other keys")
    quota.add_argument("--rate", type=number, metavar="R", help="starts per second (0: no limit)")
    quota.add_argument(
        "--max-active",
        type=non_negative_int,
        metavar="N",
        help="submissions ACTIVE at once (0: no limit)",
    )
    quota.add_argument(
        "--reset", action="store_true", help="drop the key's own quota: it gets the defaults"
    )
    quota.set_defaults(run=quota_handler, client=True)
