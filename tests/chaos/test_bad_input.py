"""The bad-input catalogue, against a real `fbq ingest` process while a healthy client submits.

Each case gets the status code the API documents (queue.proto's header, docs/grpc-api.md):
INVALID_ARGUMENT for a missing or malformed field, RESOURCE_EXHAUSTED for a message over the
size limit or a submitter over FBQ_SUBMITTER_RATE, FAILED_PRECONDITION for an idempotency key
reused with another payload, NOT_FOUND for an unknown id, and the client's own
CANCELLED and DEADLINE_EXCEEDED. Afterwards the server is the same process, still SERVING, and
every submission of the healthy producer (and every abusive one that was accepted) was
processed: the usual count, with nothing lost, unexpected or doubled.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feedback_queue.v1 import queue_pb2 as pb
from tests.chaos.conftest import MakeStack
from tests.chaos.harness import Stack
from tests.chaos.journal import ACK, ATTEMPT, DONE
from tests.chaos.report import report

MAX_CONTENT = 64 * 1024
MESSAGE_LIMIT = MAX_CONTENT + 128 * 1024  # rpc.MESSAGE_OVERHEAD
MAX_BATCH = 50
HEALTHY = 60
SUBMIT = "/feedback_queue.v1.SubmissionService/Submit"
C = grpc.StatusCode


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (strings, bytes, messages) on the wire."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def raw_submit(submitter: bytes, content: bytes, key: bytes, extra: bytes = b"") -> bytes:
    """A SubmitRequest built by hand, so that it can hold what protobuf would never write."""
    submission = field(1, submitter) + field(2, content) + field(6, key) + extra
    return field(1, submission)


class Catalogue:
    """Runs the cases and keeps, for each, the code it got."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.got: dict[str, C] = {}
        self.raw = stack.channel.unary_unary(
            SUBMIT,
            request_serializer=lambda b: b,
            response_deserializer=pb.SubmitResponse.FromString,
        )
        self.n = 0
        self.last_key = ""

    def key(self) -> str:
        """A fresh idempotency key, journaled as attempted: if the server takes the submission
        after all, it is expected (and must then be processed)."""
        self.n += 1
        key = f"abuse-{self.n:04d}"
        self.stack.record(ATTEMPT, key)
        return key

    async def case(self, name: str, call: Callable[[], Awaitable[object]]) -> C:
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
        except asyncio.CancelledError:
            code = C.CANCELLED
        else:
            code = C.OK
        self.got[name] = code
        return code

    async def submit(self, sub: pb.Submission, timeout: float = 10.0, **kw: object) -> object:
        sub.idempotency_key = key = self.key()
        request = pb.SubmitRequest(submission=sub, **kw)  # type: ignore[arg-type]
        return self.acked(key, await self.stack.submissions.Submit(request, timeout=timeout))

    async def submit_raw(self, build: Callable[[bytes], bytes]) -> object:
        key = self.key()
        return self.acked(key, await self.raw(build(key.encode()), timeout=10))

    def acked(self, key: str, reply: pb.SubmitResponse) -> pb.SubmitResponse:
        self.last_key = key
        self.stack.record(ACK, key, reply.id, int(reply.duplicate))
        return reply


def sub(content: str = "An essay.", **fields: object) -> pb.Submission:
    fields.setdefault("submitter_id", "abuser")
    return pb.Submission(content=content, **fields)  # type: ignore[arg-type]


async def run_catalogue(cat: Catalogue) -> dict[str, C]:
    stack = cat.stack
    s, r = cat.submit, cat.submit_raw
    utf8 = "Ünïcödé ✓ essay."
    expected: dict[str, C] = {}

    async def check(name: str, want: C, call: Callable[[], Awaitable[object]]) -> None:
        expected[name] = want
        await cat.case(name, call)

    # Size.
    await check(
        "content over FBQ_MAX_CONTENT_BYTES",
        C.INVALID_ARGUMENT,
        lambda: s(sub("x" * (MAX_CONTENT + 1))),
    )
    await check("content of exactly FBQ_MAX_CONTENT_BYTES", C.OK, lambda: s(sub("x" * MAX_CONTENT)))
    await check(
        "message over the limit + 128 KiB",
        C.RESOURCE_EXHAUSTED,
        lambda: s(sub("x" * (MESSAGE_LIMIT + 1))),
    )
    await check("valid multi-byte UTF-8", C.OK, lambda: s(sub(utf8)))
    # Maps.
    await check(
        "metadata with 33 entries",
        C.INVALID_ARGUMENT,
        lambda: s(sub(metadata={f"k{i}": "v" for i in range(33)})),
    )
    await check(
        "metadata with 5000 entries",
        C.INVALID_ARGUMENT,
        lambda: s(sub(metadata={f"k{i}": "v" for i in range(5000)})),
    )
    await check(
        "metadata over the message limit",
        C.RESOURCE_EXHAUSTED,
        lambda: s(sub(metadata={f"k{i}": "v" * 1000 for i in range(300)})),
    )
    await check(
        "metadata value over 1 KiB", C.INVALID_ARGUMENT, lambda: s(sub(metadata={"k": "v" * 1025}))
    )
    await check(
        "metadata key with a space", C.INVALID_ARGUMENT, lambda: s(sub(metadata={"a b": "v"}))
    )
    await check("metadata empty key", C.INVALID_ARGUMENT, lambda: s(sub(metadata={"": "v"})))
    # Empty and whitespace.
    await check("empty content", C.INVALID_ARGUMENT, lambda: s(sub("")))
    await check("whitespace content", C.INVALID_ARGUMENT, lambda: s(sub(" \t\n\u00a0\u2003")))
    await check("empty submitter_id", C.INVALID_ARGUMENT, lambda: s(sub(submitter_id="")))
    await check("whitespace submitter_id", C.INVALID_ARGUMENT, lambda: s(sub(submitter_id="  ")))
    await check("submitter_id over 128", C.INVALID_ARGUMENT, lambda: s(sub(submitter_id="a" * 129)))
    await check("kind over 64", C.INVALID_ARGUMENT, lambda: s(sub(kind="k" * 65)))
    await check(
        "instructions over 16 KiB", C.INVALID_ARGUMENT, lambda: s(sub(instructions="i" * 16385))
    )
    await check(
        "idempotency_key over 128",
        C.INVALID_ARGUMENT,
        lambda: stack.submissions.Submit(
            pb.SubmitRequest(submission=sub(idempotency_key="k" * 129)), timeout=10
        ),
    )
    await check(
        "no submission at all",
        C.INVALID_ARGUMENT,
        lambda: stack.submissions.Submit(pb.SubmitRequest(), timeout=10),
    )
    await check("negative delay", C.INVALID_ARGUMENT, lambda: s(sub(), delay={"seconds": -5}))
    await check(
        "delay over a year", C.INVALID_ARGUMENT, lambda: s(sub(), delay={"seconds": 400 * 86400})
    )
    await check(
        "GetSubmission empty id",
        C.INVALID_ARGUMENT,
        lambda: stack.submissions.GetSubmission(pb.GetSubmissionRequest(id=""), timeout=10),
    )
    await check(
        "GetSubmission whitespace id",
        C.INVALID_ARGUMENT,
        lambda: stack.submissions.GetSubmission(pb.GetSubmissionRequest(id="   "), timeout=10),
    )
    await check(
        "GetSubmission unknown id",
        C.NOT_FOUND,
        lambda: stack.submissions.GetSubmission(
            pb.GetSubmissionRequest(id="NOPE00000000"), timeout=10
        ),
    )
    # Enums.
    list_raw = stack.channel.unary_unary(
        "/feedback_queue.v1.AdminService/ListSubmissions",
        request_serializer=lambda b: b,
        response_deserializer=pb.ListSubmissionsResponse.FromString,
    )
    await check(
        "ListSubmissions status 99 (unknown enum number, raw)",
        C.INVALID_ARGUMENT,
        lambda: list_raw(varint(1 << 3) + varint(99), timeout=10),
    )
    await check(
        "ListSubmissions status -1 (raw)",
        C.INVALID_ARGUMENT,
        lambda: list_raw(varint(1 << 3) + varint(2**64 - 1), timeout=10),
    )
    await check(
        "ListSubmissions STATUS_UNSPECIFIED",
        C.INVALID_ARGUMENT,
        lambda: stack.admin.ListSubmissions(pb.ListSubmissionsRequest(), timeout=10),
    )
    await check(
        "unknown field number (raw): ignored",
        C.OK,
        lambda: r(lambda k: raw_submit(b"abuser", b"Fine.", k, varint(99 << 3) + varint(5))),
    )
    # Batches: refused whole, nothing enqueued (no key is journaled: none may be accepted).
    await check(
        f"SubmitBatch of {MAX_BATCH + 1}, over FBQ_MAX_BATCH",
        C.INVALID_ARGUMENT,
        lambda: stack.submissions.SubmitBatch(
            pb.SubmitBatchRequest(requests=[pb.SubmitRequest(submission=sub())] * (MAX_BATCH + 1)),
            timeout=10,
        ),
    )
    await check(
        "SubmitBatch of none",
        C.INVALID_ARGUMENT,
        lambda: stack.submissions.SubmitBatch(pb.SubmitBatchRequest(), timeout=10),
    )
    # Idempotency.
    first = sub("The original.")
    await check("a new idempotency key", C.OK, lambda: s(first))
    reused = cat.last_key

    async def same_key(content: str) -> object:
        again = sub(content, idempotency_key=reused)
        reply = await stack.submissions.Submit(pb.SubmitRequest(submission=again), timeout=10)
        stack.record(ACK, reused, reply.id, int(reply.duplicate))
        assert reply.duplicate
        return None

    await check("same key, same payload: duplicate=true", C.OK, lambda: same_key("The original."))
    await check("same key, other payload", C.FAILED_PRECONDITION, lambda: same_key("Another one."))

    # The client going away.
    async def deadline_exceeded() -> object:
        # A watch of a submission delayed for an hour never ends by itself: its deadline does.
        later = await stack.submissions.Submit(
            pb.SubmitRequest(submission=sub(), delay=Duration(seconds=3600)), timeout=10
        )
        try:
            watch = stack.submissions.WatchSubmission(
                pb.WatchSubmissionRequest(id=later.id), timeout=0.5
            )
            async for _ in watch:
                pass
        finally:
            await stack.admin.DeleteSubmission(pb.DeleteSubmissionRequest(id=later.id))
        return None

    await check("WatchSubmission past its deadline", C.DEADLINE_EXCEEDED, deadline_exceeded)
    # A Submit whose deadline passes at once: DEADLINE_EXCEEDED, or OK when it won the race.
    await cat.case("Submit with a 1 µs deadline", lambda: s(sub(), timeout=0.000_001))

    async def cancelled_submit() -> object:
        call = stack.submissions.Submit(
            pb.SubmitRequest(submission=sub(idempotency_key=cat.key())), timeout=10
        )
        call.cancel()
        return await call

    await check("cancelled Submit", C.CANCELLED, cancelled_submit)

    async def cancelled_watch() -> object:
        reply = await s(sub("Watched."))
        assert isinstance(reply, pb.SubmitResponse)
        watch = stack.submissions.WatchSubmission(pb.WatchSubmissionRequest(id=reply.id))
        await watch.read()
        watch.cancel()
        return await watch.read()

    await check("WatchSubmission cancelled mid-stream", C.CANCELLED, cancelled_watch)
    unknown = stack.channel.unary_unary(
        "/feedback_queue.v1.SubmissionService/Nope",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    await check("unknown method", C.UNIMPLEMENTED, lambda: unknown(b"", timeout=10))
    # Raw bytes that are not a valid SubmitRequest: a malformed field, so INVALID_ARGUMENT is
    # the documented answer; what they get today is reported (see test_malformed_wire_...).
    for name, build in MALFORMED.items():
        await cat.case(name, lambda build=build: r(build))  # type: ignore[misc]
    # A flood from one submitter: the rate holds it back; nothing else is refused.
    flood = [cat.case(f"flood #{i}", lambda: s(sub(submitter_id="flooder"))) for i in range(150)]
    await asyncio.gather(*flood)
    return expected


MALFORMED: dict[str, Callable[[bytes], bytes]] = {
    "invalid UTF-8 in content (raw)": lambda k: raw_submit(b"abuser", b"bad \xff\xfe essay", k),
    "invalid UTF-8 in a metadata key (raw)": lambda k: raw_submit(
        b"abuser", b"ok", k, field(5, field(1, b"\xc3\x28") + field(2, b"v"))
    ),
    "corrupt wire bytes (raw)": lambda k: b"\xff\xff\xff\xff\x0f",
    "groups nested 200 deep (raw)": lambda k: raw_submit(
        b"abuser", b"ok", k, varint(99 << 3 | 3) * 200 + varint(99 << 3 | 4) * 200
    ),
}


async def test_bad_input_catalogue_while_a_healthy_client_flows(make_stack: MakeStack) -> None:
    stack = await make_stack(
        seed=808,
        ingest_env={
            "FBQ_MAX_CONTENT_BYTES": str(MAX_CONTENT),
            "FBQ_SUBMITTER_RATE": "20/s",
            # gRPC's own limit is the larger of one submission's and a batch's bytes.
            "FBQ_MAX_BATCH_BYTES": str(MESSAGE_LIMIT),
            "FBQ_MAX_BATCH": str(MAX_BATCH),
        },
        worker_env={"FBQ_HEARTBEAT_GRACE": "15s"},
    )
    ingest = await stack.start_ingest()
    await stack.start_workers(1)
    healthy = stack.start_producer(
        "healthy", count=HEALTHY, concurrency=2, rate=8, submitter="healthy"
    )
    cat = Catalogue(stack)
    expected = await run_catalogue(cat)
    for name, code in cat.got.items():
        if not name.startswith("flood"):
            report("bad-input", f"{name}: {code.name}")
    assert {n: cat.got[n] for n in expected} == expected
    for name in MALFORMED:
        assert cat.got[name] != C.OK, name
    flood = Counter(code for name, code in cat.got.items() if name.startswith("flood"))
    report(
        "bad-input",
        f"flood of 150 from one submitter at 20/s: {dict((c.name, n) for c, n in flood.items())}",
    )
    assert set(flood) == {C.OK, C.RESOURCE_EXHAUSTED}
    # The same server process, still serving, and the healthy producer was never refused.
    assert await healthy.exit_code(120) == 0
    assert ingest.alive
    assert ingest.starts == 1
    async with grpc.aio.insecure_channel(stack.ingest_addr) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="readiness"), timeout=10
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    counts = await stack.drain_and_count(label="bad-input")
    events = stack.events()
    healthy_acked = {e.key for e in events if e.kind == ACK and e.key.startswith("healthy-")}
    healthy_done = {e.key for e in events if e.kind == DONE and e.key.startswith("healthy-")}
    assert len(healthy_acked) == len(healthy_done) == HEALTHY
    assert stack.error_codes() == set(), "the healthy producer never saw an error"
    assert (counts.lost, counts.unexpected, counts.duplicated, counts.twins) == (0, 0, 0, 0)


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_wire_is_invalid_argument(make_stack: MakeStack, case: str) -> None:
    stack = await make_stack(seed=809)
    await stack.start_ingest()
    cat = Catalogue(stack)
    code = await cat.case(case, lambda: cat.submit_raw(MALFORMED[case]))
    assert code == C.INVALID_ARGUMENT
