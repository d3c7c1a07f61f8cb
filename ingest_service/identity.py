"""Who is calling: the principal of the current call, for the servicers and interceptors below
the authenticating one.

The authenticating interceptor sets it for each call (`CURRENT.set(...)`) before the handler
runs; servicers read it with `current()`. With no credentials configured at all (loopback, or
FBQ_INSECURE=1 beyond it), every call is ANONYMOUS, which may do everything.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache

from feedback_queue.credentials import ANONYMOUS, LEGACY_ADMIN, Principal
from feedback_queue.queue import NOBODY, Owner

CURRENT: ContextVar[Principal] = ContextVar("fbq_principal", default=ANONYMOUS)


def current() -> Principal:
    """The principal of the call being served."""
    return CURRENT.get()


def may_see(owner: str) -> bool:
    """Whether the current principal may read a submission `owner` submitted: its own, or any
    when its role sees everything. A producer asking for another's is told NOT_FOUND."""
    principal = CURRENT.get()
    return principal.sees_everything or owner == principal.name


def owner() -> Owner:
    """What the current principal's submissions carry: its name, and its idempotency scope."""
    return _owner(CURRENT.get())


@cache
def _owner(principal: Principal) -> Owner:
    if principal == ANONYMOUS:
        return NOBODY  # no credentials at all: records and keys as before roles
    # FBQ_GRPC_TOKEN's keys stay where they were before roles, so a retry across the upgrade
    # finds its submission; no other principal shares that namespace.
    scope = "" if principal == LEGACY_ADMIN else principal.name
    return Owner(principal.name, scope)
