"""Who is calling: the principal of the current call, for the servicers and interceptors below
the authenticating one.

The authenticating interceptor sets it for each call (`CURRENT.set(...)`) before the handler
runs; servicers read it with `current()`. With no credentials configured at all (a loopback
stack with FBQ_INSECURE), every call is ANONYMOUS, which may do everything.
"""

from __future__ import annotations

from contextvars import ContextVar

from feedback_queue.credentials import Principal, Role

ANONYMOUS = Principal("anonymous", Role.ADMIN)
CURRENT: ContextVar[Principal] = ContextVar("fbq_principal", default=ANONYMOUS)


def current() -> Principal:
    """The principal of the call being served."""
    return CURRENT.get()
