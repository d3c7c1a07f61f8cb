"""A client that knows the API only from queue.proto: it compiles the file at run time.

Run as `python -I proto_only_client.py PROTO_ROOT ADDRESS`; prints one JSON object with what
each RPC answered. It must not import the project: an import hook refuses to.
"""

import importlib.abc
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


class _NoProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name.split(".")[0] in {"feedback_queue", "ingest_service", "worker_service", "gateway"}:
            raise ImportError(f"the proto-only client must not import {name}")
        return


sys.meta_path.insert(0, _NoProject())

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402
from grpc_tools import protoc  # noqa: E402


def load(proto_root: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        include = str(Path(protoc.__file__).parent / "_proto")
        code = protoc.main(
            [
                "protoc",
                f"-I{proto_root}",
                f"-I{include}",
                f"--descriptor_set_out={out}",
                "--include_imports",
                "feedback_queue/v1/queue.proto",
            ]
        )
        assert code == 0, "protoc failed"
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    package = pool.FindFileByName("feedback_queue/v1/queue.proto")
    return {
        name: message_factory.GetMessageClass(d)
        for name, d in package.message_types_by_name.items()
    }


def main(proto_root: str, address: str) -> None:
    m = load(proto_root)
    channel = grpc.insecure_channel(address)

    def rpc(service: str, method: str, request: object, reply: str, kind: str = "unary_unary"):  # type: ignore[no-untyped-def]
        return getattr(channel, kind)(
            f"/feedback_queue.v1.{service}/{method}",
            request_serializer=lambda msg: msg.SerializeToString(),
            response_deserializer=m[reply].FromString,
        )(request)

    def code_of(call: Callable[[], object]) -> str:
        try:
            call()
        except grpc.RpcError as exc:
            return exc.code().name
        return "OK"

    out: dict[str, object] = {}
    sub = m["Submission"](submitter_id="proto-only", content="Written from the proto alone.")
    reply = rpc("SubmissionService", "Submit", m["SubmitRequest"](submission=sub), "SubmitResponse")
    out["Submit"] = {"id": reply.id, "status": reply.status, "duplicate": reply.duplicate}
    stream = rpc(
        "SubmissionService",
        "SubmitStream",
        iter([m["SubmitRequest"](submission=sub), m["SubmitRequest"]()]),
        "SubmitStreamResponse",
        "stream_stream",
    )
    out["SubmitStream"] = [r.WhichOneof("outcome") for r in stream]
    info = rpc(
        "SubmissionService",
        "GetSubmission",
        m["GetSubmissionRequest"](id=reply.id),
        "SubmissionInfo",
    )
    out["GetSubmission"] = {"content": info.submission.content, "status": info.status}
    watch = rpc(
        "SubmissionService",
        "WatchSubmission",
        m["WatchSubmissionRequest"](id=reply.id),
        "SubmissionInfo",
        "unary_stream",
    )
    out["WatchSubmission"] = next(watch).status
    watch.cancel()
    health = rpc("AdminService", "GetRedisHealth", m["GetRedisHealthRequest"](), "RedisHealth")
    out["GetRedisHealth"] = {"connected": health.connected, "waiting": health.queue_stats.waiting}
    stats = rpc("AdminService", "GetQueueStats", m["GetQueueStatsRequest"](), "QueueStats")
    out["GetQueueStats"] = stats.waiting
    listing = rpc(
        "AdminService",
        "ListSubmissions",
        m["ListSubmissionsRequest"](status=1),
        "ListSubmissionsResponse",
    )
    out["ListSubmissions"] = sorted(s.id for s in listing.submissions)
    out["RetrySubmission"] = code_of(
        lambda: rpc(
            "AdminService",
            "RetrySubmission",
            m["RetrySubmissionRequest"](id=reply.id),
            "RetrySubmissionResponse",
        )
    )
    out["PauseQueue"] = rpc(
        "AdminService", "PauseQueue", m["PauseQueueRequest"](), "QueueState"
    ).paused
    out["ResumeQueue"] = rpc(
        "AdminService", "ResumeQueue", m["ResumeQueueRequest"](), "QueueState"
    ).paused
    out["DeleteSubmission"] = code_of(
        lambda: rpc(
            "AdminService",
            "DeleteSubmission",
            m["DeleteSubmissionRequest"](id=reply.id),
            "DeleteSubmissionResponse",
        )
    )
    out["imported_project"] = [n for n in sys.modules if n.startswith("feedback_queue")]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
