"""The chaos harness: a real stack of processes to break, and the Jepsen count afterwards.

    redis = SingleRedis.start(folder / "redis", appendfsync="always")
    stack = Stack(redis, folder, seed=7)
    await stack.start_ingest()
    await stack.start_workers(3)
    stack.start_producer("p0", count=300)
    await stack.wait_done(100)
    in_flight = await stack.kill_worker()           # kill -9, then a replacement starts
    held = await stack.freeze_worker(worker)        # SIGSTOP; stack.thaw_worker(worker): SIGCONT
    counts = await stack.drain_and_count()          # lost / unexpected / duplicated; fbq check

Everything runs on loopback: Redis (any topology behind `RedisTarget`), `python -m
ingest_service`, `python -m worker_service` with the journaling processor (processor.py), and
producer processes (producer.py). Producers and processors journal to files (journal.py), which
outlive every fault the harness injects. Randomness (which worker dies) comes from `seed`; faults
are triggered by progress (acknowledged or completed counts), not by the clock, so a run means
the same on a loaded machine; every wait has a generous deadline and fails with what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from feedback_queue.connection import create_client
from feedback_queue.job import Job
from feedback_queue.keys import Keys
from feedback_queue.queue.check import check
from feedback_queue.settings import RedisSettings, Settings
from feedback_queue.sharded import shard_queues
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.chaos.checker import CANCELLED_STATUS, CancelCounts, Counts, cancel_counts, count
from tests.chaos.journal import (
    ACK,
    ATTEMPT,
    CANCEL,
    CANCEL_KEY,
    CANCEL_LATE,
    DONE,
    ERROR,
    Event,
    Journal,
    read_events,
)
from tests.chaos.producer import CHANNEL_OPTIONS
from tests.chaos.report import report
from tests.secrets import secret, seen

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
# The services' settings in every chaos run; a scenario overrides what it is about.
WORKER_DEFAULTS = {
    "FBQ_PROCESSOR": "tests.chaos.processor:process",
    "FBQ_CONCURRENCY": "4",
    "FBQ_CHAOS_SLEEP": "0.02",
    # The shortest grace the settings allow (more than 3 s): a killed worker's jobs come back
    # soon. Scenarios without worker kills keep the default 15 s.
    "FBQ_HEARTBEAT_GRACE": "4s",
    "FBQ_BACKOFF_BASE": "100ms",
    "FBQ_BACKOFF_MAX": "1s",
    # A job in flight at several kills in a row is dead-lettered at its last attempt (by design,
    # against poison); with ten attempts no healthy job of these runs gets there.
    "FBQ_MAX_ATTEMPTS": "10",
    "FBQ_SHUTDOWN_GRACE": "5s",
    # Progress reports (every attempt makes two) are written often enough to be in the mix.
    "FBQ_PROGRESS_INTERVAL": "100ms",
}
SERVICE_DEFAULTS = {
    "FBQ_HEALTH_INTERVAL": "200ms",
    "FBQ_STARTUP_TIMEOUT": "60s",
    "FBQ_LOG_LEVEL": "INFO",
    # Loopback: the stack has no credentials, and beyond loopback ingest would refuse to start.
    "FBQ_INGEST_HOST": "127.0.0.1",
    "FBQ_WORKER_HEALTH_HOST": "127.0.0.1",
}


class RedisTarget(Protocol):
    """A Redis topology the harness can break: one server, Sentinel, Cluster..."""

    def env(self) -> dict[str, str]:
        """The variables that point a service at it (REDIS_URL, ...)."""
        ...

    def kill(self) -> None:
        """kill -9 (of the master, for a replicated topology)."""
        ...

    def restart(self) -> None:
        """Start what `kill` killed, on the same files and address."""
        ...

    def stop(self) -> None:
        """Stop everything for good (teardown)."""
        ...


@dataclass
class SingleRedis:
    """One redis-server on loopback, with a password and AOF."""

    server: EmbeddedRedis
    password: str = field(repr=False)

    @classmethod
    def start(
        cls, folder: Path, *, appendfsync: str = "everysec", extra_args: tuple[str, ...] = ()
    ) -> SingleRedis:
        password = secret(f"chaos-{random.SystemRandom().getrandbits(64):016x}")
        server = EmbeddedRedis(
            folder,
            binary=Settings.from_env(os.environ).redis_server_bin,
            appendonly=True,
            appendfsync=appendfsync,
            password=password,
            extra_args=extra_args,
        )
        return cls(server.start(), password)

    @property
    def port(self) -> int:
        return self.server.port

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": f"redis://:{self.password}@127.0.0.1:{self.port}/0"}

    def client(self) -> Redis:
        """An asyncio client for the scenario's own look at Redis (INFO, CONFIG SET)."""
        return create_client(
            RedisSettings(host="127.0.0.1", port=self.port, password=self.password)
        )

    def kill(self) -> None:
        self.server.kill()

    def restart(self) -> None:
        self.server.restart()

    def stop(self) -> None:
        self.server.stop()
        seen(self.server.log_path.read_text(errors="replace"))


@dataclass
class Service:
    """One process of ours (ingest, worker or producer), logging to its own file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    health_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Service:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, reaped before this returns."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(30)

    async def exit_code(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} did not exit within {timeout:g}s:\n{self.output()[-3000:]}"
            ) from None

    async def ready(self, timeout: float = 90.0) -> None:
        """Until the gRPC health `readiness` of the process says SERVING."""
        deadline = time.monotonic() + timeout
        request = health_pb2.HealthCheckRequest(service="readiness")
        address = f"127.0.0.1:{self.health_port}"
        async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if not self.alive:
                    raise AssertionError(f"{self.name} exited:\n{self.output()[-3000:]}")
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(request, timeout=1.0, wait_for_ready=True)
                    if reply.status == SERVING:
                        return
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{self.name} not ready within {timeout:g}s:\n{self.output()[-3000:]}"
                    )
                await asyncio.sleep(0.1)

    async def health(self, service: str, timeout: float = 5.0) -> int:
        """The gRPC health status the process reports for `service` ("liveness", ...)."""
        request = health_pb2.HealthCheckRequest(service=service)
        address = f"127.0.0.1:{self.health_port}"
        async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout)
            return int(reply.status)

    async def await_health(self, service: str, status: int, timeout: float = 30.0) -> None:
        """Until the process reports `status` for `service`; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        seen: set[int] = set()
        while True:
            with contextlib.suppress(grpc.aio.AioRpcError):
                seen.add(current := await self.health(service, timeout=1.0))
                if current == status:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: {service} not {status} within {timeout:g}s (saw {seen}):\n"
                    f"{self.output()[-3000:]}"
                )
            await asyncio.sleep(0.05)

    async def watch_health(self, service: str, seen: list[int]) -> None:
        """Append every status the process reports for `service` (health Watch) to `seen`,
        until cancelled."""
        request = health_pb2.HealthCheckRequest(service=service)
        address = f"127.0.0.1:{self.health_port}"
        async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
            async for reply in health_pb2_grpc.HealthStub(channel).Watch(request):
                seen.append(int(reply.status))

    def stopped(self) -> bool:
        """Whether the kernel has stopped the process (SIGSTOP): state T in /proc."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] in ("T", "t")


@dataclass(frozen=True)
class Fault:
    kind: str  # kill-worker, kill-ingest, kill-redis, ...
    time: float
    # Jobs the fault may make the fleet run again (measured where the harness can).
    in_flight: int = 0


class Stack:
    """Redis (given), one ingest, workers and producers, their journals, and the faults."""

    def __init__(
        self,
        redis: RedisTarget,
        folder: Path,
        *,
        seed: int = 0,
        queue: str = "chaos",
        worker_env: dict[str, str] | None = None,
        ingest_env: dict[str, str] | None = None,
        name: str = "chaos",
    ) -> None:
        self.redis = redis
        self.folder = folder
        self.journal_dir = folder / "journal"
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(seed)
        self.seed = seed
        self.name = name
        self.keys_of_queue = Keys(queue)
        self.drained: bool | None = None  # what the last drain_and_count saw
        self.cancels: CancelCounts | None = None  # the same, of the cancels made
        # Only what the harness sets reaches the services: no FBQ_* or REDIS_* of the caller.
        base = {k: v for k, v in os.environ.items() if not k.startswith(("FBQ_", "REDIS_"))}
        if "REDIS_SERVER_BIN" in os.environ:
            base["REDIS_SERVER_BIN"] = os.environ["REDIS_SERVER_BIN"]
        self.base_env = {**base, **SERVICE_DEFAULTS, "FBQ_QUEUE": queue}
        self.worker_env = {**WORKER_DEFAULTS, **(worker_env or {})}
        self.ingest_env = dict(ingest_env or {})
        self.ingest_port = free_port()
        self.ingest: Service | None = None
        self.workers: list[Service] = []
        self.producers: list[Service] = []
        self.services: list[Service] = []  # everything ever started, for teardown
        self.faults: list[Fault] = []
        self.channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{self.ingest_port}", options=CHANNEL_OPTIONS
        )
        self.submissions = pb_grpc.SubmissionServiceStub(self.channel)
        self.admin = pb_grpc.AdminServiceStub(self.channel)
        self._journal = Journal(self.journal_dir / "test.events")

    def authorize(self, token: str) -> None:
        """The test's own calls (submit, stats, listing) carry `token` from now on: for a stack
        whose ingest has credentials (FBQ_CREDENTIALS_FILE)."""
        self.channel = grpc.aio.insecure_channel(
            self.ingest_addr, options=CHANNEL_OPTIONS, interceptors=[cast(Any, _Bearer(token))]
        )
        self.submissions = pb_grpc.SubmissionServiceStub(self.channel)
        self.admin = pb_grpc.AdminServiceStub(self.channel)

    @property
    def ingest_addr(self) -> str:
        return f"127.0.0.1:{self.ingest_port}"

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        return {**self.base_env, **self.redis.env(), **extra}

    # -- ingest ---------------------------------------------------------------------------------

    async def start_ingest(self, **env: str) -> Service:
        """`python -m ingest_service` on the stack's port; returns once it is ready."""
        self.ingest_env.update(env)
        self.ingest = Service(
            "ingest",
            [sys.executable, "-m", "ingest_service"],
            self._env({**self.ingest_env, "FBQ_INGEST_PORT": str(self.ingest_port)}),
            self.folder / "ingest.log",
            health_port=self.ingest_port,
        )
        self.services.append(self.ingest.start())
        await self.ingest.ready()
        return self.ingest

    async def kill_ingest(self, *, restart: bool = True, down_for: float = 0.3) -> None:
        """kill -9 the ingest service; by default start it again on the same port."""
        assert self.ingest is not None
        self.ingest.kill()
        self.faults.append(Fault("kill-ingest", time.time()))
        if restart:
            await asyncio.sleep(down_for)  # producers see it gone, and retry
            await self.restart_ingest()

    async def restart_ingest(self) -> None:
        assert self.ingest is not None
        self.ingest.start()
        await self.ingest.ready()

    # -- workers --------------------------------------------------------------------------------

    async def start_worker(self, **env: str) -> Service:
        """One `python -m worker_service` with the journaling processor; returns once ready."""
        port = free_port()
        worker = Service(
            f"worker-{len(self.workers)}",
            [sys.executable, "-m", "worker_service"],
            self._env(
                {
                    **self.worker_env,
                    **env,
                    "FBQ_WORKER_HEALTH_PORT": str(port),
                    "FBQ_CHAOS_JOURNAL": str(self.journal_dir),
                }
            ),
            self.folder / f"worker-{len(self.workers)}.log",
            health_port=port,
        )
        self.workers.append(worker)
        self.services.append(worker.start())
        await worker.ready()
        return worker

    async def start_workers(self, n: int, **env: str) -> list[Service]:
        return list(await asyncio.gather(*(self.start_worker(**env) for _ in range(n))))

    def live_workers(self) -> list[Service]:
        return [w for w in self.workers if w.alive]

    async def kill_worker(self, worker: Service | None = None, *, replace: bool = True) -> int:
        """kill -9 a worker (the seed picks one) and count the jobs it held; start another.

        The count is read right after the kill, long before the heartbeat grace lets the reaper
        return them: every ACTIVE job of that process, running or finished but not yet acked.
        Each may run again, so their sum over the faults bounds the duplicates.
        """
        worker = worker or self.rng.choice(self.live_workers())
        pid = worker.pid
        worker.kill()
        held = await self.active_jobs_of(pid)
        self.faults.append(Fault("kill-worker", time.time(), held))
        if replace:
            await self.start_worker()
        return held

    async def active_jobs_of(self, pid: int) -> int:
        """ACTIVE jobs whose worker id names `pid` (ids are host-pid-random)."""
        marker, token, held = f"-{pid}-", "", 0
        while True:
            request = pb.ListSubmissionsRequest(status=pb.ACTIVE, page_size=500, page_token=token)
            page = await self._admin_call(
                lambda request=request: self.admin.ListSubmissions(request, timeout=10)  # type: ignore[misc]
            )
            held += sum(1 for info in page.submissions if marker in info.worker)
            token = page.next_page_token
            if not token:
                return held

    async def worker_id_of(self, worker: Service) -> str:
        """The registered worker id of a process (ids are host-pid-random)."""
        marker = f"-{worker.pid}-"
        client = self.redis_client()
        try:
            members = await client.zrange(self.keys_of_queue.workers, 0, -1)
        finally:
            await client.aclose()
        ids = [text(m) for m in members if marker in text(m)]
        assert len(ids) == 1, f"{worker.name} (pid {worker.pid}) registered as {ids}"
        return ids[0]

    async def freeze_worker(self, worker: Service) -> list[str]:
        """SIGSTOP a worker; returns the ids in its processing list once frozen.

        The list is read once the kernel has stopped the process, after a PING of our own:
        whatever the worker sent before it stopped was in Redis's socket buffer when the PING
        arrived, and Redis answers a command only after running every command it read in the
        same turn of its event loop. So no take or ack of the frozen worker changes the list
        after this read; only a BLMOVE it was blocked in still can, by one job, when a job
        arrives. Each of these jobs may run again once the reaper returns them; the fault
        counts them.
        """
        assert worker.process is not None
        wid = await self.worker_id_of(worker)
        worker.process.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not worker.stopped():
            assert time.monotonic() < deadline, f"{worker.name} did not stop"
            await asyncio.sleep(0.005)
        client = self.redis_client()
        try:
            await client.ping()
            held = [text(i) for i in await client.lrange(self.keys_of_queue.active(wid), 0, -1)]
        finally:
            await client.aclose()
        self.faults.append(Fault("freeze-worker", time.time(), len(held)))
        return held

    def thaw_worker(self, worker: Service) -> None:
        """SIGCONT a frozen worker."""
        assert worker.process is not None
        worker.process.send_signal(signal.SIGCONT)

    # -- Redis ----------------------------------------------------------------------------------

    def kill_redis(self, in_flight: int = 0) -> None:
        """kill -9 Redis; `in_flight` is what the caller reckons this may make run twice."""
        self.redis.kill()
        self.faults.append(Fault("kill-redis", time.time(), in_flight))

    def restart_redis(self) -> None:
        self.redis.restart()

    def redis_client(self, **overrides: Any) -> Redis:
        """A client of the stack's Redis, as the services see it, with `overrides` of its
        RedisSettings (socket_timeout=...); the caller closes it."""
        settings = Settings.from_env(self._env(self.worker_env)).redis
        return create_client(dataclasses.replace(settings, **overrides))

    # -- producers ------------------------------------------------------------------------------

    def start_producer(
        self,
        name: str,
        *,
        count: int | None = None,
        seconds: float | None = None,
        concurrency: int = 4,
        rate: float = 0.0,
        submitter: str = "chaos",
        metadata: dict[str, str] | None = None,
        content_bytes: int = 120,
        give_up: float = 90.0,
        client: str | None = None,
        batch: int = 50,
        token: str | None = None,
    ) -> Service:
        """A producer process (producer.py) submitting to this stack's ingest; with `client`
        ("submit" or "many"), through feedback_queue.client and its retries alone."""
        argv = [
            sys.executable,
            "-m",
            "tests.chaos.producer",
            f"--addr={self.ingest_addr}",
            f"--journal={self.journal_dir / f'producer-{name}.events'}",
            f"--name={name}",
            f"--concurrency={concurrency}",
            f"--rate={rate}",
            f"--seed={self.seed}",
            f"--submitter={submitter}",
            f"--content-bytes={content_bytes}",
            f"--give-up={give_up}",
        ]
        if client is not None:
            argv += [f"--client={client}", f"--batch={batch}"]
        if token:
            argv.append(f"--token={token}")
        if count is not None:
            argv.append(f"--count={count}")
        if seconds is not None:
            argv.append(f"--seconds={seconds}")
        argv += [f"--metadata={k}={v}" for k, v in (metadata or {}).items()]
        producer = Service(
            f"producer-{name}", argv, dict(self.base_env), self.folder / f"{name}.log"
        )
        self.producers.append(producer)
        self.services.append(producer.start())
        return producer

    async def submit(self, submission: pb.Submission, key: str) -> pb.SubmitResponse:
        """Submit from the test itself, journaled like a producer's submit (no retries)."""
        submission.idempotency_key = key
        self._journal.write(ATTEMPT, key)
        reply = await self.submissions.Submit(pb.SubmitRequest(submission=submission), timeout=10)
        self._journal.write(ACK, key, reply.id, int(reply.duplicate))
        return reply

    def record(self, kind: str, key: str, job_id: str = "-", n: int = 0) -> None:
        """Journal an event of the test's own (a submit it makes by hand, raw bytes and all)."""
        self._journal.write(kind, key, job_id, n)

    async def stop_producers(self, timeout: float = 120.0) -> None:
        """SIGTERM the producers: they start nothing new and finish what is under way."""
        for producer in self.producers:
            if producer.alive:
                assert producer.process is not None
                producer.process.send_signal(signal.SIGTERM)
        await self.wait_producers(timeout)

    async def wait_producers(self, timeout: float = 120.0) -> None:
        for producer in self.producers:
            code = await producer.exit_code(timeout)
            assert code == 0, f"{producer.name} exited {code}:\n{producer.output()[-3000:]}"

    # -- observing ------------------------------------------------------------------------------

    def events(self) -> list[Event]:
        return read_events(self.journal_dir)

    def keys(self, kind: str) -> set[str]:
        return {e.key for e in self.events() if e.kind == kind}

    async def wait_until(
        self, what: str, done: Callable[[list[Event]], bool], timeout: float = 120.0
    ) -> None:
        """Until `done(events)`; fails after `timeout` with what the journals hold."""
        deadline = time.monotonic() + timeout
        while not done(events := self.events()):
            if time.monotonic() > deadline:
                kinds = {k: sum(1 for e in events if e.kind == k) for k in {e.kind for e in events}}
                raise AssertionError(f"not within {timeout:g}s: {what}; journals: {kinds}")
            await asyncio.sleep(0.2)

    async def wait_acked(self, n: int, timeout: float = 120.0) -> None:
        await self.wait_until(f"{n} acknowledged", lambda ev: _keys(ev, ACK) >= n, timeout)

    async def wait_done(self, n: int, timeout: float = 120.0) -> None:
        await self.wait_until(f"{n} completed", lambda ev: _keys(ev, DONE) >= n, timeout)

    async def stat(self, field: str) -> int:
        """One counter of the queue's stats hash, read from Redis."""
        client = self.redis_client()
        try:
            return int(await client.hget(self.keys_of_queue.stats, field) or 0)
        finally:
            await client.aclose()

    async def stats(self) -> pb.QueueStats:
        return await self._admin_call(lambda: self.admin.GetQueueStats(pb.GetQueueStatsRequest()))

    async def _admin_call(self, call: Callable[[], Awaitable[T]]) -> T:
        """An admin call, retried while ingest or Redis is briefly away (up to a minute)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                return await call()
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    raise
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    # -- the count ------------------------------------------------------------------------------

    async def drain(self, expected_failed: Iterable[str] = (), timeout: float = 120.0) -> bool:
        """Until producers ended, every acknowledged key completed (or is expected to fail, or
        was cancelled) and nothing waits, runs or is delayed. False when `timeout` passed
        first."""
        deadline = time.monotonic() + timeout
        await self.wait_producers(timeout)
        failing = set(expected_failed)
        while True:
            events = self.events()
            ids = {e.key: e.id for e in events if e.kind == ACK}
            done = {e.key for e in events if e.kind == DONE}
            outstanding = set(ids) - failing - done
            if outstanding:
                records = await self.records_of({k: ids[k] for k in outstanding})
                outstanding -= {k for k, r in records.items() if r[0] == CANCELLED_STATUS}
            if not outstanding:
                stats = await self.stats()
                if stats.waiting == stats.active == stats.delayed == 0:
                    return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.25)

    async def records_of(self, ids: dict[str, str]) -> dict[str, tuple[int, int, str]]:
        """key -> (status, attempts, fairness key) of each key's job, read from Redis (a job
        without a record is left out)."""
        client = self.redis_client()
        found: dict[str, tuple[int, int, str]] = {}
        try:
            pairs = list(ids.items())
            for start in range(0, len(pairs), 500):
                chunk = pairs[start : start + 500]
                raws = await client.mget([self.keys_of_queue.job(i) for _, i in chunk])
                for (key, job_id), raw in zip(chunk, raws, strict=True):
                    if isinstance(raw, bytes):  # our clients answer bytes; None: no record
                        job = Job.from_raw(job_id, raw)
                        sub = job.submission
                        where = sub.fairness_key or sub.submitter_id
                        found[key] = (int(job.status), job.attempts, where)
        finally:
            await client.aclose()
        return found

    async def cancel_by_id(self, key: str, job_id: str) -> None:
        """CancelSubmission of one job, retried through outages (a cancel is replay-safe),
        journaled: CANCEL when answered OK, CANCEL_LATE when it had finished."""
        request = pb.CancelSubmissionRequest(id=job_id)
        try:
            reply = await self._admin_call(
                lambda: self.submissions.CancelSubmission(request, timeout=10)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            self._journal.write(CANCEL_LATE, key, job_id)
            return
        self._journal.write(CANCEL, key, job_id, int(reply.already))

    async def cancel_key(self, fairness_key: str) -> int:
        """Cancel every waiting or delayed job of a fairness key, journaled as CANCEL_KEY
        before it is sent (whatever it cancels counts as asked for)."""
        self._journal.write(CANCEL_KEY, fairness_key)
        where = pb.CancelFilter(fairness_key=fairness_key)
        request = pb.CancelSubmissionRequest(filter=where)
        reply = await self._admin_call(
            lambda: self.submissions.CancelSubmission(request, timeout=30)
        )
        return reply.cancelled

    async def cancel_while_running(self, stop: asyncio.Event, every: float) -> None:
        """Until `stop`: every `every` seconds, cancel one acknowledged job (the seed picks
        it) that was not cancelled yet, be it waiting, delayed, running or done."""
        asked: set[str] = set()
        while not stop.is_set():
            ids = {e.key: e.id for e in self.events() if e.kind == ACK}
            choices = sorted(set(ids) - asked)
            if choices:
                key = self.rng.choice(choices)
                asked.add(key)
                await self.cancel_by_id(key, ids[key])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def stop_workers(self, timeout: float = 60.0) -> None:
        """SIGTERM every live worker; each must exit 0 (acks written, registry left)."""
        live = self.live_workers()
        for worker in live:
            assert worker.process is not None
            worker.process.send_signal(signal.SIGTERM)
        for worker in live:
            code = await worker.exit_code(timeout)
            assert code == 0, f"{worker.name} exited {code}:\n{worker.output()[-3000:]}"

    @property
    def in_flight_at_faults(self) -> int:
        return sum(f.in_flight for f in self.faults)

    async def drain_and_count(
        self, expected_failed: Iterable[str] = (), timeout: float = 120.0, label: str = ""
    ) -> Counts:
        """Drain, stop the workers cleanly, count, and report the counts."""
        drained = self.drained = await self.drain(expected_failed, timeout)
        await self.stop_workers()
        events = self.events()
        records = await self.records_of({e.key: e.id for e in events if e.kind == ACK})
        cancelled = {k for k, r in records.items() if r[0] == CANCELLED_STATUS}
        counts = count(events, expected_failed, cancelled)
        cancels = self.cancels = cancel_counts(events, records)
        faults = ",".join(
            f"{k}:{sum(1 for f in self.faults if f.kind == k)}"
            for k in sorted({f.kind for f in self.faults})
        )
        report(
            label or self.name,
            f"{counts.line()} in_flight_at_faults={self.in_flight_at_faults} "
            f"faults={faults or 'none'} drained={drained} seed={self.seed}"
            + (f" {cancels.line()}" if cancels.asked or cancels.cancelled else ""),
        )
        broken = await self.check_invariants()
        assert not broken, "fbq check after the drain:\n" + "\n".join(broken)
        return counts

    async def check_invariants(self) -> list[str]:
        """What `fbq check` finds in the stack's Redis: each violation, in a sentence."""
        settings = Settings.from_env(self._env(self.worker_env))
        client = self.redis_client()
        try:
            found: list[str] = []
            for queue in shard_queues(settings, client):
                found += [v.message for v in (await check(queue)).violations]
            return found
        finally:
            await client.aclose()

    def error_codes(self) -> set[str]:
        """The status codes producers' tries failed with (and were retried)."""
        return {e.id for e in self.events() if e.kind == ERROR}

    async def close(self) -> None:
        """Kill whatever still runs; hand every output to the secrets check."""
        for service in self.services:
            service.kill()
        await self.channel.close(grace=None)
        self._journal.close()
        for path in {s.log_path for s in self.services}:
            if path.exists():
                seen(path.read_text(errors="replace"))
        self.redis.stop()


if TYPE_CHECKING:
    _UnaryUnary: TypeAlias = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
else:  # not subscriptable at run time
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor


class _Bearer(_UnaryUnary):
    """Adds `authorization: Bearer <token>` to every unary call of the test's channel."""

    def __init__(self, token: str) -> None:
        self._metadata = grpc.aio.Metadata(("authorization", f"Bearer {token}"))

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            client_call_details.timeout,
            self._metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def text(value: object) -> str:
    """A Redis reply item as text (the queue's clients answer bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _keys(events: list[Event], kind: str) -> int:
    return len({e.key for e in events if e.kind == kind})
