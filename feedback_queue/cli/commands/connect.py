"""The client commands' link to ingest: an AsyncClient made from the command line.

The address is `--addr`, else FBQ_INGEST_ADDR, else 127.0.0.1:50051. The token is
`--token-file PATH`, else FBQ_GRPC_TOKEN, else `.fbq/token` in the current directory (what
`fbq up` writes); TLS is FBQ_TLS_*. Every call's deadline is `--timeout`. What a failed call
means is the client's exception (feedback_queue/client/errors.py); `fbq` prints it as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable

from feedback_queue.cli.commands.errors import CliError
from feedback_queue.client import AsyncClient, FbqError, Hints

# The client's messages, in the words of fbq's options.
HINTS = Hints(
    address="pass --addr or set FBQ_INGEST_ADDR",
    token="set FBQ_GRPC_TOKEN (or pass --token-file)",  # noqa: S106  (a hint, not a token)
    timeout="raise --timeout",
)


def client(args: argparse.Namespace) -> AsyncClient:
    """The client the command line and the environment name (made inside the event loop)."""
    return AsyncClient.from_env(
        os.environ,
        address=getattr(args, "addr", None),
        token_file=getattr(args, "token_file", None),
        hints=HINTS,
        timeout=args.timeout,
    )


def run(args: argparse.Namespace, body: Callable[[AsyncClient], Awaitable[int]]) -> int:
    """Run `body` with a client of the ingest the arguments name; its errors become CliError."""

    async def main() -> int:
        async with client(args) as ingest:
            try:
                return await body(ingest)
            except FbqError as exc:
                raise CliError(str(exc)) from exc

    return asyncio.run(main())
