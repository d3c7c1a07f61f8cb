"""A producer process: submits over gRPC with idempotency keys, journaling every step.

    python -m tests.chaos.producer --addr 127.0.0.1:PORT --journal FILE --name p0 --count 300

Each operation has the key `<name>-<n>` and content drawn from `--seed`, so a run is
reproducible. A try that fails with a status a retry may fix (the service is down, busy, out of
memory, the deadline passed) is retried with the same key after a jittered backoff, until it is
acknowledged or `--give-up` seconds have passed; other statuses refuse the operation for good.
SIGTERM stops starting new operations; those under way finish. Exit 0 unless it crashed.

With `--client submit` the producer is a user of `feedback_queue.client` instead: one
AsyncClient (automatic batching on) shared by every task; each operation is a `Submission`
whose idempotency key the client made, journaled before it is sent; the only retries are the
client's own (gRPC's service config, then its RetryPolicy, for up to `--give-up` seconds),
each journaled as an ERROR with its status. `--client many` sends `--batch` operations at a
time with `submit_many`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import time
from collections import Counter
from pathlib import Path

import grpc

from feedback_queue.backoff import Backoff
from feedback_queue.client import AsyncClient, FbqError, RetryPolicy, Submission, SubmitFailed
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.chaos.journal import ACK, ATTEMPT, ERROR, GAVE_UP, REFUSED, Journal

# What a producer retries with the same key: nothing was acknowledged, so nothing can double.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.ABORTED,
    }
)
# A restarted service is found again within a fraction of a second, not grpc's default 1-120 s.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
WORDS = ("the", "essay", "river", "school", "uniform", "bicycle", "sleep", "report", "letter")


def fairness_key(rng: random.Random) -> str:
    """Work spread over a few fairness keys, so every chaos run moves jobs between many lanes."""
    return f"tenant-{rng.randrange(6)}"


def priority(rng: random.Random) -> int:
    """Mostly normal, some high and some low: the guard and strict order both at work."""
    return rng.choice([pb.PRIORITY_NORMAL] * 6 + [pb.PRIORITY_HIGH] * 2 + [pb.PRIORITY_LOW] * 2)


def content(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words).capitalize() + "."


class Producer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.journal = Journal(Path(args.journal))
        self.rng = random.Random(f"{args.seed}:{args.name}")
        self.metadata = dict(item.split("=", 1) for item in args.metadata)
        # The principal's bearer token, when the producer has one (a credentials file's).
        self.call_metadata = (("authorization", f"Bearer {args.token}"),) if args.token else ()
        self.next_op = 0
        self.next_start = time.monotonic()
        self.deadline = time.monotonic() + args.seconds if args.seconds else float("inf")
        self.stopping = False
        self.codes: Counter[str] = Counter()
        self.acked = 0

    def take_op(self) -> int | None:
        if self.stopping or self.next_op >= self.args.count or time.monotonic() > self.deadline:
            return None
        self.next_op += 1
        return self.next_op - 1

    async def pace(self) -> None:
        if self.args.rate > 0:
            self.next_start = max(self.next_start, time.monotonic()) + 1 / self.args.rate
            await asyncio.sleep(max(0.0, self.next_start - time.monotonic()))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        if self.args.client:
            await self.run_client()
        else:
            async with grpc.aio.insecure_channel(self.args.addr, options=CHANNEL_OPTIONS) as ch:
                stub = pb_grpc.SubmissionServiceStub(ch)
                await asyncio.gather(*(self.loop(stub) for _ in range(self.args.concurrency)))
        self.journal.close()
        print(
            f"producer {self.args.name}: {self.next_op} attempted, {self.acked} acknowledged, "
            f"errors {dict(self.codes)}",
            flush=True,
        )

    def stop(self) -> None:
        self.stopping = True

    async def loop(self, stub: pb_grpc.SubmissionServiceAsyncStub) -> None:
        while (op := self.take_op()) is not None:
            await self.pace()
            await self.submit(stub, op)

    async def submit(self, stub: pb_grpc.SubmissionServiceAsyncStub, op: int) -> None:
        key = f"{self.args.name}-{op:06d}"
        rng = random.Random(f"{self.args.seed}:{key}")
        request = pb.SubmitRequest(
            submission=pb.Submission(
                submitter_id=self.args.submitter,
                content=content(rng, self.args.content_bytes),
                metadata=self.metadata,
                idempotency_key=key,
                fairness_key=fairness_key(rng),
                priority=priority(rng),  # type: ignore[arg-type]
            )
        )
        self.journal.write(ATTEMPT, key)
        give_up = time.monotonic() + self.args.give_up
        wait = 0.05
        while True:
            try:
                reply = await stub.Submit(
                    request, timeout=self.args.call_timeout, metadata=self.call_metadata
                )
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                self.codes[code.name] += 1
                if code not in RETRYABLE:
                    self.journal.write(REFUSED, key, code.name)
                    return
                self.journal.write(ERROR, key, code.name)
                if time.monotonic() > give_up:
                    self.journal.write(GAVE_UP, key)
                    return
                await asyncio.sleep(wait * (0.5 + self.rng.random()))
                wait = min(wait * 2, 1.0)
                continue
            self.journal.write(ACK, key, reply.id, int(reply.duplicate))
            self.acked += 1
            return

    # -- as a user of feedback_queue.client ------------------------------------------------------

    def retried(self, error: FbqError, attempt: int, wait: float) -> None:
        """The client's RetryPolicy tells of each retry: journal its status (no key: the policy
        is the client's, shared by every call)."""
        code = error.code.name if error.code else type(error).__name__
        self.codes[code] += 1
        self.journal.write(ERROR, "client-retry", code, attempt)

    def submission(self, op: int) -> Submission:
        """Operation `op`'s submission, its content drawn from `--seed`; the key is the
        client's own, made here, and journaled before anything is sent."""
        rng = random.Random(f"{self.args.seed}:{self.args.name}-{op:06d}")
        made = Submission(
            content(rng, self.args.content_bytes),
            self.args.submitter,
            metadata=self.metadata,
            fairness_key=fairness_key(rng),
            priority=priority(rng),
        )
        self.journal.write(ATTEMPT, made.idempotency_key)
        return made

    async def run_client(self) -> None:
        policy = RetryPolicy(
            attempts=1_000_000, backoff=Backoff(base=0.05, cap=1.0), on_retry=self.retried
        )
        client = AsyncClient(
            self.args.addr,
            token=self.args.token or None,
            timeout=self.args.give_up,
            retry=policy,
            channel_options=CHANNEL_OPTIONS,
        )
        async with client:
            many = self.args.client == "many"
            task = self.client_many if many else self.client_submit
            await asyncio.gather(*(task(client) for _ in range(self.args.concurrency)))

    async def client_submit(self, client: AsyncClient) -> None:
        while (op := self.take_op()) is not None:
            await self.pace()
            submission = self.submission(op)
            try:
                reply = await client.submit(submission)
            except FbqError as exc:
                self.give_up(submission, exc)
                continue
            self.journal.write(ACK, submission.idempotency_key, reply.id, int(reply.duplicate))
            self.acked += 1

    async def client_many(self, client: AsyncClient) -> None:
        while True:
            ops: list[int] = []
            while len(ops) < self.args.batch and (op := self.take_op()) is not None:
                await self.pace()
                ops.append(op)
            if not ops:
                return
            submissions = [self.submission(op) for op in ops]
            try:
                results = await client.submit_many(submissions)
            except FbqError as exc:
                for submission in submissions:
                    self.give_up(submission, exc)
                continue
            for submission, result in zip(submissions, results, strict=True):
                if isinstance(result, SubmitFailed):
                    self.give_up(submission, result.error)
                else:
                    key = submission.idempotency_key
                    self.journal.write(ACK, key, result.id, int(result.duplicate))
                    self.acked += 1

    def give_up(self, submission: Submission, error: FbqError) -> None:
        """The client raised: its retries ran out (GAVE_UP), or nothing could cure it."""
        kind = GAVE_UP if error.retryable else REFUSED
        code = error.code.name if error.code else type(error).__name__
        self.journal.write(kind, submission.idempotency_key, code)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.producer")
    parser.add_argument("--addr", required=True)
    parser.add_argument("--journal", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--count", type=int, default=1_000_000_000)
    parser.add_argument("--seconds", type=float, default=0.0, help="stop starting ops after")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.0, help="ops per second, 0: no limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--submitter", default="chaos")
    parser.add_argument("--content-bytes", type=int, default=120)
    parser.add_argument("--metadata", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--give-up", type=float, default=90.0)
    parser.add_argument("--call-timeout", type=float, default=5.0)
    parser.add_argument("--client", choices=["submit", "many"], help="use feedback_queue.client")
    parser.add_argument("--batch", type=int, default=50, help="with --client many")
    parser.add_argument("--token", default="", help="the principal's bearer token")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(Producer(parse()).run())
