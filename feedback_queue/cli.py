"""The `fbq` command line."""

from __future__ import annotations

import argparse
import sys

from feedback_queue import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fbq", description="Feedback Queue: a durable submission queue on Redis."
    )
    parser.add_argument("--version", action="version", version=f"fbq {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
