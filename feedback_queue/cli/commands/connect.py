"""Where ingest is, which token to send, and the one map from gRPC errors to CLI messages.

The address is `--addr`, else FBQ_INGEST_ADDR, else 127.0.0.1:50051. The token is
`--token-file PATH`, else FBQ_GRPC_TOKEN, else `.fbq/token` in the current directory (what
`fbq up` writes). A token is only ever sent as metadata; no message names its value.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import cast

import grpc

from feedback_queue import tls
from feedback_queue.cli.commands.errors import CliError
from feedback_queue.refusal import RETRY_AFTER_KEY, UNAVAILABLE_MESSAGE
from feedback_queue.settings import Settings, TlsSettings
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc

TOKEN_FILE = Path(".fbq") / "token"
ENV_TOKEN = "FBQ_GRPC_TOKEN"  # noqa: S105  (the variable's name, not a token)


@dataclass(frozen=True)
class Target:
    """An ingest service and how to authenticate to it."""

    address: str
    token: str | None = field(default=None, repr=False)
    # Where the token came from, safe to print: "FBQ_GRPC_TOKEN", ".fbq/token", a file path.
    token_source: str | None = None
    tls: TlsSettings = field(default_factory=TlsSettings)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


def default_address(settings: Settings) -> str:
    """FBQ_INGEST_ADDR (its default is Settings.ingest_addr)."""
    return settings.ingest_addr


def read_token(path: Path) -> str:
    """The token in `path`, without surrounding whitespace."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CliError(f"cannot read the token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"the token file {path} is not UTF-8 text") from None
    if not token:
        raise CliError(f"the token file {path} is empty")
    return token


def resolve(args: argparse.Namespace, settings: Settings) -> Target:
    """The target the command line and the environment name."""
    address = getattr(args, "addr", None) or default_address(settings)
    token_file: str | None = getattr(args, "token_file", None)
    if token_file:
        return Target(address, read_token(Path(token_file)), token_file, settings.tls)
    if settings.grpc_token:
        return Target(address, settings.grpc_token, ENV_TOKEN, settings.tls)
    if TOKEN_FILE.is_file():
        return Target(address, read_token(TOKEN_FILE), str(TOKEN_FILE), settings.tls)
    return Target(address, tls=settings.tls)


def describe(exc: grpc.aio.AioRpcError, target: Target) -> str:
    """What a failed call means and what to do about it, in one line."""
    code = exc.code()
    details = (exc.details() or "").strip() or code.name
    address = target.address
    if code == grpc.StatusCode.UNAVAILABLE:
        if details == UNAVAILABLE_MESSAGE:  # ingest answered: its Redis is down
            return f"ingest at {address}: {details}"
        hint = tls.explain(details)
        if hint:
            return f"cannot reach ingest at {address}: {hint}"
        cause = details.rsplit(": ", 1)[-1]
        tls_hint = (
            "; over TLS also FBQ_TLS_CA, FBQ_TLS_CLIENT_CERT and FBQ_TLS_CLIENT_KEY (a server "
            "refusing a client certificate just closes the connection)"
            if target.tls.calling
            else ""
        )
        return (
            f"cannot reach ingest at {address} ({cause}): check it is running, "
            f"or pass --addr or set FBQ_INGEST_ADDR{tls_hint}"
        )
    if code == grpc.StatusCode.UNAUTHENTICATED:
        if target.token is None:
            return f"ingest at {address} needs a token: set {ENV_TOKEN} (or pass --token-file)"
        return (
            f"ingest at {address} refused the token from {target.token_source}: "
            f"set {ENV_TOKEN} to the token ingest runs with"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"ingest at {address} did not answer in time (raise --timeout)"
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # (key, value) pairs at run time, whatever the stubs say.
        trailers = cast(Iterable[tuple[str, str]], exc.trailing_metadata() or ())
        wait = next((str(v) for k, v in trailers if k == RETRY_AFTER_KEY), None)
        return f"{details} (retry in {int(wait) / 1000:g}s)" if wait else details
    if code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
    ):
        return details
    return f"{details} ({code.name})"


class Session:
    """A channel to ingest with its stubs; made inside the running event loop."""

    def __init__(self, target: Target, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None

    async def __aenter__(self) -> Session:
        self._channel = tls.aio_channel(self.target.address, self.target.tls)
        self.submissions = pb_grpc.SubmissionServiceStub(self._channel)
        self.admin = pb_grpc.AdminServiceStub(self._channel)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._channel is not None:
            await self._channel.close(None)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self.target.metadata

    def error(self, exc: grpc.aio.AioRpcError) -> CliError:
        return CliError(describe(exc, self.target))


def run(args: argparse.Namespace, body: Callable[[Session], Awaitable[int]]) -> int:
    """Run `body` with a session to the ingest the arguments name; gRPC errors become CliError."""
    target = resolve(args, Settings.from_env(os.environ))

    async def main() -> int:
        async with Session(target, args.timeout) as session:
            try:
                return await body(session)
            except grpc.aio.AioRpcError as exc:
                raise session.error(exc) from exc

    return asyncio.run(main())
