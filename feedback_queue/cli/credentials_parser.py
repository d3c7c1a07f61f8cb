"""The parser of `fbq credentials` (parser.py stays one screenful per command family)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from feedback_queue.credentials import Role

RAW = argparse.RawDescriptionHelpFormatter


def add_credentials(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
    handler: Callable[[argparse.Namespace], int],
) -> None:
    credentials = commands.add_parser(
        "credentials",
        parents=parents,
        help="ingest's principals: add one with a role, and get its token",
        description="The credentials file ingest reads (FBQ_CREDENTIALS_FILE): one principal, "
        "its role and its token's hash a line (docs/security.md).",
        epilog="example:\n  fbq credentials add essay-service --role producer > essay.token",
        formatter_class=RAW,
    )
    actions = credentials.add_subparsers(dest="credentials_command", metavar="COMMAND")
    actions.required = True
    add = actions.add_parser(
        "add",
        parents=parents,
        help="add a principal; print its new token alone on stdout",
        description="Add principal NAME with ROLE to the credentials file (made 0600 if new) and "
        "print its new token alone on stdout; the file keeps only the token's SHA-256. Restart "
        "ingest (or roll it out) to load it.",
        epilog="examples:\n"
        "  fbq credentials add essay-service --role producer > essay.token\n"
        "  fbq credentials add dashboard --role viewer --file /etc/fbq/credentials\n"
        "\n"
        "roles: producer (submit; read, watch its own), viewer (read everything),\n"
        "operator (a viewer that retries, deletes, pauses), admin (everything)",
        formatter_class=RAW,
    )
    add.add_argument("name", metavar="NAME", help="the principal: 1-64 of A-Z a-z 0-9 . _ @ -")
    add.add_argument(
        "--role", required=True, choices=[role.value for role in Role], help="what it may do"
    )
    add.add_argument(
        "--file",
        metavar="PATH",
        help="the credentials file (default FBQ_CREDENTIALS_FILE, else .fbq/credentials)",
    )
    add.set_defaults(run=handler)
