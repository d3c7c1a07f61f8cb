"""Principals, their roles, and the credentials file: who may call what.

FBQ_CREDENTIALS_FILE holds one credential per line; blank lines and `#` comments are ignored:

    # principal       role       credential
    essay-service     producer   sha256:9f86d08188...  (64 hex digits)
    gateway           operator   sha256:...
    grader-svc        producer   cn:grader.internal

`sha256:<hex>` is the SHA-256 of a bearer token: the file never holds a token, so reading it
gives no one a credential. Tokens are 256 random bits (`new_token`), so a fast hash is enough.
`cn:<name>` names the subject common name of a client certificate (mutual TLS, verified against
FBQ_TLS_CLIENT_CA): a caller presenting it is that principal.

Roles, from least to most:
    producer  SubmissionService: submit, and get, watch and cancel its own submissions
    viewer    read-only AdminService (health, stats, listing) and reading any submission
    operator  a viewer that may also retry, delete, pause, resume and cancel
    admin     everything, quotas included
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from feedback_queue.errors import ConfigError

PRINCIPAL = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
TOKEN_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
CERT_NAME = re.compile(r"^cn:[^\s]{1,256}$")


class Role(StrEnum):
    PRODUCER = "producer"
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


# What each role may call, by gRPC method name (service/method); "*" is every method.
SUBMIT = {"Submit", "SubmitBatch", "SubmitStream"}
READ_OWN = {"GetSubmission", "WatchSubmission", "CancelSubmission"}
READ_ADMIN = {"GetRedisHealth", "GetQueueStats", "ListSubmissions", "GetFairShare", "GetTimings"}
STEER = {
    "RetrySubmission",
    "DeleteSubmission",
    "PauseQueue",
    "ResumeQueue",
    "CancelSubmission",
    "SetKeyQuota",
}
ALLOWED: Mapping[Role, frozenset[str]] = {
    Role.PRODUCER: frozenset(SUBMIT | READ_OWN),
    Role.VIEWER: frozenset(READ_ADMIN | {"GetSubmission", "WatchSubmission"}),
    Role.OPERATOR: frozenset(READ_ADMIN | STEER | {"GetSubmission", "WatchSubmission"}),
    Role.ADMIN: frozenset({"*"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a name from the credentials file (or "admin" for FBQ_GRPC_TOKEN)."""

    name: str
    role: Role

    def may(self, method: str) -> bool:
        """Whether this principal's role allows `method` (a bare name, e.g. "Submit")."""
        allowed = ALLOWED[self.role]
        return "*" in allowed or method in allowed

    @property
    def sees_everything(self) -> bool:
        """Whether it may read other principals' submissions (every role but producer)."""
        return self.role is not Role.PRODUCER

    @property
    def steers(self) -> bool:
        """Whether it may steer the queue (operators and admins): a producer may cancel its
        own submissions by id, but only a steering role may cancel by filter."""
        return all(self.may(method) for method in STEER)


# FBQ_GRPC_TOKEN's principal: the one token of before roles, which could do everything.
LEGACY_ADMIN = Principal("admin", Role.ADMIN)
# The principal of every call when ingest has no credential at all (loopback, or FBQ_INSECURE).
ANONYMOUS = Principal("anonymous", Role.ADMIN)


def new_token() -> str:
    """A fresh bearer token: 43 URL-safe characters, 256 random bits."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the credentials file keeps of a token."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Credentials:
    """The credentials of one file, looked up by token or by certificate name."""

    by_token_hash: Mapping[str, Principal]
    by_cert_name: Mapping[str, Principal]

    @classmethod
    def parse(cls, lines: Iterable[str], source: str = "FBQ_CREDENTIALS_FILE") -> Credentials:
        """Parse credential lines; a malformed one raises ConfigError naming its line number
        (never its content: it may be a token pasted by mistake)."""
        by_hash: dict[str, Principal] = {}
        by_cert: dict[str, Principal] = {}
        names: set[str] = set()
        for number, raw in enumerate(lines, start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            where = f"{source}, line {number}"
            if len(parts) != 3:
                raise ConfigError(f"{where}: expected `principal role credential`")
            name, role_text, credential = parts
            if not PRINCIPAL.match(name):
                raise ConfigError(f"{where}: a principal is 1-64 of A-Z a-z 0-9 . _ @ -")
            try:
                role = Role(role_text)
            except ValueError:
                roles = ", ".join(r.value for r in Role)
                raise ConfigError(f"{where}: the role must be one of {roles}") from None
            if name in names:
                raise ConfigError(f"{where}: principal {name} is named twice")
            if name == ANONYMOUS.name:
                raise ConfigError(f"{where}: {name} is reserved for calls without credentials")
            names.add(name)
            principal = Principal(name, role)
            if TOKEN_HASH.match(credential):
                by_hash[credential] = principal
            elif CERT_NAME.match(credential):
                by_cert[credential.removeprefix("cn:")] = principal
            else:
                raise ConfigError(
                    f"{where}: the credential must be sha256:<64 hex digits> (a token's hash, "
                    "never the token) or cn:<certificate common name>"
                )
        return cls(by_hash, by_cert)

    @classmethod
    def load(cls, path: str | Path) -> Credentials:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"FBQ_CREDENTIALS_FILE: cannot read {path}: {exc.strerror}") from None
        return cls.parse(text.splitlines())

    def by_token(self, token: str) -> Principal | None:
        """The principal whose token this is (the lookup is by the token's hash)."""
        return self.by_token_hash.get(token_hash(token))

    def by_certificate(self, common_name: str) -> Principal | None:
        return self.by_cert_name.get(common_name)

    def __bool__(self) -> bool:
        return bool(self.by_token_hash or self.by_cert_name)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(
            p.name for p in (*self.by_token_hash.values(), *self.by_cert_name.values())
        )

    @classmethod
    def of(cls, path: str | None, grpc_token: str | None) -> Credentials:
        """Ingest's credentials: FBQ_CREDENTIALS_FILE's, and FBQ_GRPC_TOKEN as principal
        `admin` (role admin), each when set."""
        credentials = cls.load(path) if path else cls({}, {})
        if not grpc_token:
            return credentials
        if LEGACY_ADMIN.name in credentials.names:
            raise ConfigError(
                "FBQ_GRPC_TOKEN: it is the credential of principal admin, and "
                "FBQ_CREDENTIALS_FILE names an admin too: rename that one or unset FBQ_GRPC_TOKEN"
            )
        tokens = {**credentials.by_token_hash, token_hash(grpc_token): LEGACY_ADMIN}
        return cls(tokens, credentials.by_cert_name)


def add(path: str | Path, name: str, role: Role) -> str:
    """Append a new credential for `name` to the file (made 0600 if new); return its token."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    current = Credentials.parse(text.splitlines(), str(path))
    if name in current.names:
        raise ConfigError(f"{path}: principal {name} has a credential already")
    if not PRINCIPAL.match(name) or name == ANONYMOUS.name:
        raise ConfigError(
            f"a principal is 1-64 of A-Z a-z 0-9 . _ @ - (and not {ANONYMOUS.name}), got {name!r}"
        )
    token = new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        separator = "\n" if text and not text.endswith("\n") else ""
        out.write(f"{separator}{name} {role.value} {token_hash(token)}\n")
    return token
