"""Audit of the calls that change the queue, the AdminService's and CancelSubmission
(feedback_queue/audit.py), naming the principal that made them (`identity.current()`, set by
the auth interceptor)."""

from __future__ import annotations

from typing import Any

import grpc

from feedback_queue import audit
from feedback_queue.v1 import queue_pb2 as pb
from ingest_service import identity
from ingest_service.auth import Continuation, Handler, _Interceptor

ADMIN = "/feedback_queue.v1.AdminService/"
AUDITED = {
    ADMIN + name
    for name in ("RetrySubmission", "DeleteSubmission", "PauseQueue", "ResumeQueue", "SetKeyQuota")
} | {"/feedback_queue.v1.SubmissionService/CancelSubmission"}


class AuditInterceptor(_Interceptor):
    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in AUDITED:
            return handler
        action = method.rsplit("/", 1)[1]
        # Every audited method is unary; under grpc.aio its behaviour is a coroutine function
        # (the stubs type it as the sync one).
        inner: Any = handler.unary_unary

        async def audited(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            target = _target(request)
            # Read in the call: under mutual TLS the principal is only known once it runs.
            who = audit.principal(identity.current().name)
            try:
                reply = await inner(request, context)
            except BaseException:
                code = context.code()
                name = code.name if isinstance(code, grpc.StatusCode) else "ERROR"
                audit.record(who, action, target, name)
                raise
            audit.record(who, action, target, "OK")
            return reply

        return grpc.unary_unary_rpc_method_handler(
            audited,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _target(request: Any) -> str:
    """What the call acts on: a submission id, every failed one, a fairness key, or the queue."""
    if getattr(request, "all_failed", False):
        return "all-failed"
    if isinstance(request, pb.SetKeyQuotaRequest):
        return f"key:{request.key}"
    if isinstance(request, pb.CancelSubmissionRequest) and request.HasField("filter"):
        f = request.filter
        parts = [f"submitter={f.submitter_id}" if f.submitter_id else ""]
        parts.append(f"key={f.fairness_key}" if f.fairness_key else "")
        parts += [pb.Status.Name(s) for s in f.statuses]
        target = "filter:" + ",".join(p for p in parts if p)
        return target + (" (dry run)" if request.dry_run else "")
    return str(getattr(request, "id", "") or "queue")
