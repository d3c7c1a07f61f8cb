"""Who calls the gateway's admin API, and what its role lets it do.

Two kinds of bearer token are taken: FBQ_ADMIN_TOKEN, which is role admin (audited by its
token id, `tok:<8 hex>`), and the tokens of FBQ_CREDENTIALS_FILE (feedback_queue/credentials.py),
each a principal with a role, audited as `principal:<name>`. Each route is named by the gRPC
method it calls, and the role's rules are the ones ingest applies: a viewer reads (health,
stats, listings, submissions), an operator also retries, deletes, pauses and resumes, an admin
does everything; a producer may not use the admin API. The gateway checks the role itself:
toward ingest it calls with its own credential (FBQ_GRPC_TOKEN).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from feedback_queue import audit
from feedback_queue.credentials import Credentials, Principal, Role

# A role refusal's `reason` (the problem body's, as gRPC's ErrorInfo): the dashboard shows it
# next to the button instead of returning to sign-in, as it does for a wrong token.
ROLE_FORBIDS = "ROLE_FORBIDS"
ADMIN_TOKEN = Principal("admin-token", Role.ADMIN)
NOBODY = Principal("anonymous", Role.ADMIN)  # --insecure-no-auth on loopback


@dataclass(frozen=True)
class Caller:
    """An admitted caller, and how the audit names it."""

    principal: Principal
    who: str


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str
    reason: str = ""


@dataclass(frozen=True)
class HttpAuth:
    """The tokens the gateway takes."""

    admin_token: str | None = field(default=None, repr=False)
    credentials: Credentials = field(default_factory=lambda: Credentials({}, {}))

    @property
    def required(self) -> bool:
        return bool(self.admin_token or self.credentials)

    def caller(self, authorization: str) -> Caller | Refusal:
        """The caller an Authorization header names, or why it is refused (401, 403)."""
        if not self.required:
            return Caller(NOBODY, "anonymous")
        if not authorization:
            return Refusal(401, "send Authorization: Bearer <FBQ_ADMIN_TOKEN or your token>")
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Caller(ADMIN_TOKEN, audit.token_id(self.admin_token))
        principal = self.credentials.by_token(token) if token else None
        if principal is None:
            return Refusal(
                403, "the token is not the admin token, nor a credential of this gateway"
            )
        return Caller(principal, f"principal:{principal.name}")


def forbids(caller: Caller, method: str) -> Refusal | None:
    """Why `caller`'s role may not call `method` (a gRPC method name), or None if it may."""
    principal = caller.principal
    # A producer is refused everything here, even reading its own submissions: the gateway
    # calls ingest as itself, so ingest could not keep a producer to its own.
    if principal.role is not Role.PRODUCER and principal.may(method):
        return None
    if principal.role is Role.PRODUCER:
        detail = (
            f"principal {principal.name} is a producer: the admin API needs a viewer, operator "
            "or admin credential"
        )
    else:
        detail = (
            f"principal {principal.name} is a {principal.role.value}, which may only look: "
            f"{method} needs an operator or admin credential"
        )
    return Refusal(403, detail, ROLE_FORBIDS)
