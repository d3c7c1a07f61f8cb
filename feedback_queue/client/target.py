"""Where ingest is, which token to send, and over what TLS: a `Target`.

`resolve` reads them from `Settings` (the one place that reads the environment) the way `fbq`
always has: the address is FBQ_INGEST_ADDR (default 127.0.0.1:50051); the token is a token
file given explicitly, else FBQ_GRPC_TOKEN (or FBQ_GRPC_TOKEN_FILE), else `.fbq/token` in the
current directory (what `fbq up` writes); TLS is FBQ_TLS_CA, FBQ_TLS_CLIENT_CERT and
FBQ_TLS_CLIENT_KEY. A token is only ever sent as metadata; no message names its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from feedback_queue.errors import ConfigError
from feedback_queue.settings import Settings, TlsSettings

TOKEN_FILE = Path(".fbq") / "token"
ENV_TOKEN = "FBQ_GRPC_TOKEN"  # noqa: S105  (the variable's name, not a token)
# Every call's deadline unless the client or the call says otherwise (seconds).
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Hints:
    """How the user of a program sets what an error message tells them to check.

    The library's own words by default; `fbq` names its options instead.
    """

    address: str = "pass the address or set FBQ_INGEST_ADDR"
    token: str = f"set {ENV_TOKEN} (or pass a token)"
    timeout: str = "raise the timeout"


@dataclass(frozen=True)
class Target:
    """An ingest service and how to authenticate to it."""

    address: str = Settings.ingest_addr
    token: str | None = field(default=None, repr=False)
    # Where the token came from, safe to print: "FBQ_GRPC_TOKEN", ".fbq/token", a file path.
    token_source: str | None = None
    tls: TlsSettings = field(default_factory=TlsSettings)
    hints: Hints = field(default_factory=Hints)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The call metadata that carries the token, if any."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


def read_token(path: Path) -> str:
    """The token in `path`, without surrounding whitespace."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the token file {path} is not UTF-8 text") from None
    if not token:
        raise ConfigError(f"the token file {path} is empty")
    return token


def resolve(
    settings: Settings,
    *,
    address: str | None = None,
    token_file: str | Path | None = None,
    hints: Hints | None = None,
) -> Target:
    """The target that explicit choices, else the settings (the environment), name."""
    address = address or settings.ingest_addr
    hints = hints or Hints()
    if token_file:
        path = Path(token_file)
        return Target(address, read_token(path), str(token_file), settings.tls, hints)
    if settings.grpc_token:
        return Target(address, settings.grpc_token, ENV_TOKEN, settings.tls, hints)
    if TOKEN_FILE.is_file():
        return Target(address, read_token(TOKEN_FILE), str(TOKEN_FILE), settings.tls, hints)
    return Target(address, tls=settings.tls, hints=hints)


def make_target(address: str | Target | None, token: str | None, tls: TlsSettings | None) -> Target:
    """The target of a client made with explicit arguments."""
    if isinstance(address, Target):
        if token is not None or tls is not None:
            raise TypeError("pass a Target alone, or the address with token and tls")
        return address
    source = "the token given" if token else None
    return Target(address or Settings.ingest_addr, token, source, tls or TlsSettings())
