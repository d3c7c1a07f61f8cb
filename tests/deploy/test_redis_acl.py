"""deploy/redis/redis.conf and users.acl on a real redis-server: each role can do its job and
nothing it must not.

Every role logs in as the services do, through `Settings.from_env` with REDIS_USERNAME and
REDIS_PASSWORD. The flows run under MONITOR, so the test also proves the ACL is tight: every
command granted to ingest and worker is one their flows really send (or one named below).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
import redis.exceptions as rex
from redis.asyncio import Redis

from feedback_queue import health
from feedback_queue.connection import create_client
from feedback_queue.errors import QueueAuthError, QueueError
from feedback_queue.job import Status
from feedback_queue.outcomes import Acked, Held, Progressed
from feedback_queue.processing import JobContext
from feedback_queue.progress import Progress
from feedback_queue.queue import CancelFilter, Failure, Owner, Queue, sharing
from feedback_queue.queue.check import check
from feedback_queue.settings import WorkerConfig
from feedback_queue.startup import require_redis
from feedback_queue.v1 import queue_pb2 as pb
from tests.conftest import FakeClock
from tests.deploy.conftest import REDIS_CONF, ROLES, TEST_ROOT, AclServer, render_acl
from tests.helpers import silence, submission
from worker_service.processors import Processor
from worker_service.worker import Worker

QUEUE = "{fbq:submissions}"
# Granted but not sent by these flows: SELECT runs only when REDIS_DB is not 0.
GRANTED_FOR_CONFIG = {"select"}
# Redis lets every user run these (they log in); the ACL cannot grant or deny them.
ALWAYS_ALLOWED = {"auth", "hello"}
# Commands whose first argument is a subcommand; ACL rules name them as command|subcommand.
CONTAINERS = {"client", "script", "config", "acl", "memory", "slowlog", "latency", "object"}
END = "fbq-monitor-end"


def command_name(command: str) -> str:
    parts = command.split(" ")
    name = parts[0].lower()
    if name in CONTAINERS and len(parts) > 1:
        return f"{name}|{parts[1].lower()}"
    return name


class Monitor:
    """MONITOR as fbq-test-root: which commands each connection sent, scripts' included."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.by_port: dict[str, set[str]] = defaultdict(set)
        self._started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Monitor:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._started.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        if exc[0] is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            await self.client.aclose()
            return
        try:
            await self.client.echo(END)
            await asyncio.wait_for(self._task, 30)
        finally:
            await self.client.aclose()

    async def _listen(self) -> None:
        caller = ""
        async with self.client.monitor() as monitor:
            self._started.set()
            async for info in monitor.listen():
                command = info["command"]
                if command == f"ECHO {END}" or command == f"echo {END}":
                    return
                if info["client_type"] == "lua":
                    # Redis shows a script's commands right after the EVALSHA that ran them.
                    assert caller, f"a script command with no caller: {command[:40]}"
                    self.by_port[caller].add(command_name(command))
                    continue
                name = command_name(command)
                port = info["client_port"]
                self.by_port[port].add(name)
                caller = port if name in {"evalsha", "eval"} else ""

    async def by_user(self, root: Redis) -> dict[str, set[str]]:
        """Commands per user; call while the role's connections are still open."""
        users: dict[str, set[str]] = defaultdict(set)
        for client in await root.client_list():
            port = client["addr"].rsplit(":", 1)[1]
            users[client["user"]] |= self.by_port.get(port, set())
        return users


async def granted(root: Redis, user: str) -> set[str]:
    """The commands `user` is allowed, from ACL GETUSER.

    users.acl names commands only, but Redis describes a user compactly: once it holds most of
    a category, as `+@hash -hsetnx ...`. The categories are applied first, then the commands,
    in the order Redis gives them, which rebuilds the same set.
    """
    rules: dict[str, Any] = await root.acl_getuser(user)  # type: ignore[assignment]
    allowed: set[str] = set()
    for rule in [*rules["categories"], *rules["commands"]]:
        assert rule != "+@all", f"{user} may run every command"
        if rule == "-@all":
            allowed.clear()
            continue
        names = {rule[1:]}
        if rule[1] == "@":
            members = await _command(root, "ACL", "CAT", rule[2:])
            names = {m.decode() if isinstance(m, bytes) else m for m in members}
        if rule.startswith("+"):
            allowed |= names
        else:
            allowed -= names
    return allowed


def role_queue(server: AclServer, role: str, clock: FakeClock, **env: str) -> Queue:
    settings = server.settings(role, **env)
    return Queue(
        create_client(settings.redis), settings.queue, address=settings.redis.address, clock=clock
    )


@pytest.fixture
async def queues(acl_server: AclServer, root: Redis) -> AsyncIterator[tuple[Queue, Queue]]:
    """An ingest and a worker queue on the default queue `submissions`, emptied afterwards."""
    clock = FakeClock()
    ingest = role_queue(
        acl_server, "ingest", clock, FBQ_SUBMITTER_RATE="100/s", FBQ_PRINCIPAL_RATE="100/s"
    )
    worker = role_queue(acl_server, "worker", clock, FBQ_RATE_LIMIT="1000/s", FBQ_MAX_ATTEMPTS="3")
    yield ingest, worker
    await ingest.close()
    await worker.close()
    await root.flushall()


async def test_redis_runs_the_guides_settings(root: Redis) -> None:
    config = await root.config_get("*")
    assert config["maxmemory-policy"] == "volatile-lru"
    assert config["maxmemory"] == str(1536 * 1024 * 1024)
    assert config["save"] == "900 1 300 10 60 10000"
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["protected-mode"] == "yes"
    assert config["acl-pubsub-default"] == "resetchannels"
    # The file names no password: requirepass is empty, the ACL holds hashes only.
    assert config["requirepass"] == ""
    assert "requirepass" not in " ".join(
        line for line in REDIS_CONF.read_text().splitlines() if not line.startswith("#")
    )


async def test_each_role_does_its_job_and_is_granted_nothing_more(
    acl_server: AclServer, root: Redis, queues: tuple[Queue, Queue], monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest, worker = queues
    clock = ingest.clock
    assert isinstance(clock, FakeClock)
    async with Monitor(acl_server.root()) as monitor:
        await _ingest_and_worker_flows(ingest, worker, clock, monkeypatch)
        used = await monitor.by_user(root)

    for role in ("ingest", "worker"):
        user = f"fbq-{role}"
        allowed = await granted(root, user)
        sent = used[user] - ALWAYS_ALLOWED
        assert sent <= allowed, f"{user} sent commands it may not: {sent - allowed}"
        unused = allowed - sent - GRANTED_FOR_CONFIG
        assert not unused, f"{user} is granted commands its flows never send: {sorted(unused)}"


async def _ingest_and_worker_flows(
    ingest: Queue, worker: Queue, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both services start as their servers do: Redis must answer (the readiness check too).
    await require_redis(ingest, 5.0)
    await require_redis(worker, 5.0)
    # Ingest: submit (with an idempotency key, a replay of it, a delayed one), read and report.
    items = [(submission(f"essay {i}", submitter_id="learner-1"), 0.0) for i in range(5)]
    items.append((submission("keyed", idempotency_key="k-1"), 0.0))
    items.append((submission("later"), 30.0))
    results = await ingest.enqueue_many(items)
    assert all(not isinstance(r, Exception) for r in results), results
    # A principal's submission (#21): its rate state is a key of ingest's own.
    owned = await ingest.enqueue(submission("owned"), owner=Owner("essay-service", "essay-service"))
    assert (await ingest.get(owned.id)).owner == "essay-service"
    again = await ingest.enqueue(submission("keyed", idempotency_key="k-1"))
    assert again.duplicate
    first = await ingest.get(again.id)
    assert first.status == Status.WAITING
    # A watch's look between reads: a few bytes of the record (#21, bounded watches).
    assert await ingest.glance(again.id)
    for status in Status:
        await ingest.list_by_status(status)
    report = await health.check(ingest)
    assert report.connected, report.warnings
    assert report.maxmemory_policy == "volatile-lru"
    assert (await ingest.stats()).waiting == 7

    # Worker A: heartbeat, take, ack, fail (dead letter and retry), the idle path.
    await worker.heartbeat("w-a")
    taken = await worker.take("w-a", 2)
    assert len(taken.jobs) == 2
    acked = await worker.ack("w-a", [(taken.jobs[0].id, taken.jobs[0].token, "fine")])
    assert acked == [Acked.COMPLETED]
    failed = await worker.fail("w-a", [Failure(taken.jobs[1], "bad input", permanent=True)])
    assert failed == [Status.FAILED]
    done, more = await worker.ack_take("w-a", [], 1)
    assert done == []
    assert len(more.jobs) == 1
    assert await worker.fail("w-a", [Failure(more.jobs[0], "flaky")]) == [Status.DELAYED]
    # The idle path: BLPOP on the wake list (the enqueue left a token there), then a take.
    idle = await worker.wait_for_work("w-a", 1, 0.1)
    assert len(idle.jobs) == 1

    # Worker A goes silent; worker B holds the housekeeping lease, promotes, reaps, sweeps.
    clock.advance(3600)
    await worker.heartbeat("w-b")  # a live fleet beats on
    await silence(worker.client, worker, "w-a", 3600)  # its last beat, by Redis's clock
    await worker.heartbeat("w-b")
    assert await worker.hold_lease("housekeeping", "w-b", 3.0)
    assert await worker.promote_due() == 2
    assert await worker.reap() == 1
    assert await worker.reap_orphans() == 0
    await worker.sweep()
    assert await worker.recover("w-b", keep=()) == 0
    await worker.hold_lease("housekeeping", "w-b", 0)
    assert await worker.leave("w-b") == 0

    # Ingest, as AdminService: retry the dead letter, pause and resume, delete a finished one.
    dead = await ingest.list_by_status(Status.FAILED)
    assert len(dead.jobs) == 1
    await ingest.retry(dead.jobs[0].id)
    assert await ingest.retry_all_failed() == 0
    await ingest.pause()
    await ingest.resume()
    done_page = await ingest.list_by_status(Status.COMPLETED)
    await ingest.delete(done_page.jobs[0].id)

    # The real worker loop drains the rest with the worker user.
    async def process(job: JobContext) -> str:
        return "ok"

    config = WorkerConfig(concurrency=4, job_timeout=5.0, shutdown_grace=2.0, block_timeout=0.1)
    await Worker(worker, Processor("test", process), config, worker_id="w-burst").run(burst=True)
    stats = await ingest.stats()
    assert (stats.waiting, stats.active, stats.delayed, stats.failed) == (0, 0, 0, 0)
    assert stats.completed == 8  # the counter: one before the delete, seven by the loop

    await _cancel_and_progress_flows(ingest, worker)
    await _fair_share_flows(ingest, worker, clock, monkeypatch)


async def _cancel_and_progress_flows(ingest: Queue, worker: Queue) -> None:
    """A running job reports progress and is cancelled by id; waiting and delayed ones are
    counted, then cancelled, by filter."""
    running = await ingest.enqueue(submission("long one"))
    await worker.heartbeat("w-c")
    [job] = (await worker.take("w-c", 1)).jobs
    assert job.id == running.id
    report = (job.id, job.token, Progress(50.0, "half way").encode())
    assert await worker.report([report], 0) == [Progressed.OK]
    assert (await ingest.get(job.id)).progress is not None
    assert await worker.held([(job.id, job.token)]) == [Held.HELD]
    assert await ingest.cancel(job.id, "ops") is True
    assert await worker.held([(job.id, job.token)]) == [Held.CANCELLED]
    assert await worker.ack("w-c", [(job.id, job.token, "late")]) == [Acked.CANCELLED]
    await ingest.enqueue(submission("a", submitter_id="bob"))
    await ingest.enqueue(submission("b", submitter_id="bob"), delay=30.0)
    where = CancelFilter(submitter_id="bob")
    assert await ingest.cancel_where(where, "ops", dry_run=True) == 2
    assert await ingest.cancel_where(CancelFilter(fairness_key="bob"), "ops") == 2
    assert (await ingest.list_by_status(Status.CANCELLED)).total == 3
    assert await worker.leave("w-c") == 0
    # The fleet's histograms: a worker adds a batch (again: a no-op), ingest reads them.
    batch = [
        ("fbq_processing_seconds|k|completed|3", 1),
        ("fbq_processing_seconds|k|completed|sum", 0.04),
    ]
    assert await worker.add_timings("w-c", 1, batch) is True
    assert await worker.add_timings("w-c", 1, batch) is False
    [histogram] = await ingest.timings()
    assert histogram.series.count == 1


async def _fair_share_flows(
    ingest: Queue, worker: Queue, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fair share (#19): quotas set and dropped by ingest (AdminService), a take that holds one
    lane at its key's max_active and another for its key's rate, the ack that frees the first,
    the rate wait that frees the second, and the fair-share report."""
    await ingest.set_quota("school-a", max_active=1)
    await ingest.set_quota("school-b", rate=1.0)
    await ingest.set_quota("school-c", weight=2.0)
    await ingest.set_quota("school-c", reset=True)
    items = [
        (submission(f"school {k} {i}", fairness_key=f"school-{k}", priority=p), 0.0)
        for k, p in (("a", pb.PRIORITY_HIGH), ("b", pb.PRIORITY_NORMAL))
        for i in range(2)
    ]
    items.append((submission("a lane of its own", fairness_key="school-d"), 0.0))
    ids = [r.id for r in await ingest.enqueue_many(items) if not isinstance(r, Exception)]
    assert len(ids) == 5
    # Deleting the only waiting job of a key empties its lane and forgets the key.
    await ingest.delete(ids[4])

    # One start each (the head of each lane), then school-a is held at its max_active and
    # school-b for its rate.
    taken = await worker.take("w-c", 4)
    assert sorted(j.id for j in taken.jobs) == sorted([ids[0], ids[2]])
    assert (await worker.take("w-c", 4)).held > 0
    view = await ingest.fair_share()
    assert view.keys_waiting == 2
    assert {(s.key, s.waiting, s.active) for s in view.keys} == {
        ("school-a", 1, 1),
        ("school-b", 1, 1),
    }
    assert set(view.quotas) == {"school-a", "school-b"}
    # Listing the waiting work walks the held lanes too.
    assert (await ingest.list_by_status(Status.WAITING)).total == 2
    # More own quotas than fair_share lists: it scans for them (HSCAN) instead of HGETALL.
    monkeypatch.setattr(sharing, "MAX_QUOTAS_LISTED", 1)
    assert len((await ingest.fair_share()).quotas) == 1

    # The ack of school-a's start frees its lane (and wakes an idle worker); school-b's rate
    # lets its next start through a second later.
    done = [(j.id, j.token, "fine") for j in taken.jobs]
    assert await worker.ack("w-c", done) == [Acked.COMPLETED, Acked.COMPLETED]
    again = await worker.take("w-c", 4)
    assert len(again.jobs) == 1
    clock.advance(2)
    later = await worker.wait_for_work("w-c", 4, 0.1)
    assert len(later.jobs) == 1
    done = [(j.id, j.token, "fine") for j in again.jobs + later.jobs]
    assert await worker.ack("w-c", done) == [Acked.COMPLETED, Acked.COMPLETED]
    await ingest.set_quota("school-a", reset=True)
    await ingest.set_quota("school-b", reset=True)
    stats = await ingest.stats()
    assert (stats.waiting, stats.active, stats.completed) == (0, 0, 12)
    # Deleting a job whose stale started entry was counted among its key's ACTIVE jobs lowers
    # that count again (and looks whether a key is held at its max_active: SCARD).
    later_id = (await ingest.enqueue(submission("later", fairness_key="school-e"), delay=60)).id
    await worker.client.hset(worker.keys.started, later_id, "w9|1|5|school-e")
    await ingest.delete(later_id)


def _command(client: Redis, *args: str) -> Awaitable[Any]:
    """A raw command (redis-py leaves execute_command untyped)."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


async def _refused(call: Awaitable[Any]) -> rex.RedisError:
    """The error of a call Redis must refuse."""
    with pytest.raises(rex.RedisError) as caught:
        await call
    return caught.value


async def _noperm(call: Awaitable[Any]) -> None:
    """The call is refused by the ACL (redis-py's NoPermissionError is Redis's NOPERM)."""
    error = await _refused(call)
    assert isinstance(error, rex.NoPermissionError), repr(error)


FORBIDDEN_TO_SERVICES: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "GET", "maxmemory"),
    ("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("SHUTDOWN", "NOSAVE"),
    ("MONITOR",),
    ("ACL", "SETUSER", "fbq-ingest", "+@all"),
    ("CLIENT", "KILL", "TYPE", "normal"),
    ("SCRIPT", "FLUSH"),
    ("EVAL", "return 1", "0"),
    ("BGSAVE",),
    ("REPLICAOF", "127.0.0.1", "1"),
]


@pytest.mark.parametrize("role", ["ingest", "worker"])
@pytest.mark.parametrize("command", FORBIDDEN_TO_SERVICES, ids=lambda c: " ".join(c[:2]))
async def test_services_may_not_run_dangerous_commands(
    acl_server: AclServer, role: str, command: tuple[str, ...]
) -> None:
    client = acl_server.client(role)
    try:
        await _noperm(_command(client, *command))
    finally:
        await client.aclose()


OUTSIDE_KEYS = [
    ("GET", "other"),
    ("GET", "{fbq:other}:job:1"),
    ("LLEN", "{fbq:other}:lane:2:learner-1"),
    ("HGET", "{fbq:other}:fair", "waiting"),
    ("GET", "fbq:submissions:fair"),
]


@pytest.mark.parametrize("role", ["ingest", "worker"])
async def test_services_reach_only_their_queues_keys(acl_server: AclServer, role: str) -> None:
    client = acl_server.client(role)
    try:
        for command in OUTSIDE_KEYS:
            await _noperm(_command(client, *command))
        # Scripts widen nothing: a script runs with its caller's rights.
        sha = await client.script_load("return redis.call('GET', 'other')")
        text = str(await _refused(client.evalsha(sha, 0)))
        assert "can't access at least one of the keys" in text, text
        sha = await client.script_load("return redis.call('FLUSHALL')")
        text = str(await _refused(client.evalsha(sha, 0)))
        assert "can't run this command" in text, text
    finally:
        await client.aclose()


async def test_ingest_cannot_take_work_or_housekeep(
    acl_server: AclServer, queues: tuple[Queue, Queue]
) -> None:
    ingest, _ = queues
    await ingest.enqueue(submission("one"))
    for call in (
        lambda: ingest.take("w-x", 1),
        lambda: ingest.hold_lease("housekeeping", "w-x", 3.0),
        ingest.reap,
        lambda: ingest.wait_for_work("w-x", 1, 0.1),
    ):
        with pytest.raises(QueueAuthError, match="lacks a permission"):
            await call()


async def test_worker_cannot_read_submissions_or_rate_state(
    acl_server: AclServer, queues: tuple[Queue, Queue]
) -> None:
    ingest, worker = queues
    job = await ingest.enqueue(submission("one"))
    with pytest.raises(QueueAuthError, match="lacks a permission"):
        await worker.get(job.id)
    with pytest.raises(QueueAuthError, match="lacks a permission"):
        await worker.list_by_status(Status.WAITING)
    # Denied inside a script: Redis answers ERR, not NOPERM, so the core reports it as a plain
    # Redis error that quotes Redis's reason.
    with pytest.raises(QueueError, match="can't run this command"):
        await worker.stats()
    client = acl_server.client("worker")
    try:
        await _noperm(client.get(f"{QUEUE}:submitter:learner-1"))
    finally:
        await client.aclose()


async def test_admin_reads_and_diagnoses_but_writes_nothing(
    acl_server: AclServer, queues: tuple[Queue, Queue]
) -> None:
    ingest, _ = queues
    job = await ingest.enqueue(submission("one"))
    admin = acl_server.client("admin")
    lane = f"{QUEUE}:lane:2:learner-1"  # priority normal, the submitter's fairness key
    try:
        assert await admin.llen(lane) == 1
        assert await admin.hget(f"{QUEUE}:fair", "waiting") == b"1"
        assert await admin.get(f"{QUEUE}:job:{job.id}")
        assert await admin.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
        assert "redis_version" in await admin.info("server")
        _, keys = await admin.scan(0, match=f"{QUEUE}:*", count=1000)
        assert lane.encode() in keys
        await _command(admin, "SLOWLOG", "GET", "10")
        await _command(admin, "LATENCY", "LATEST")
        await _command(admin, "CLIENT", "LIST")
        await _command(admin, "ACL", "LOG", "5")
        await _command(admin, "MEMORY", "USAGE", lane)
        for command in [
            ("SET", f"{QUEUE}:paused", "1"),
            ("DEL", lane),
            ("LPUSH", lane, "x"),
            ("HSET", f"{QUEUE}:quotas", "learner-1", "1.0 0.0 0"),
            ("BLPOP", f"{QUEUE}:wake", "0.01"),
            ("FLUSHALL",),
            ("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
            ("KEYS", "*"),
            ("SHUTDOWN", "NOSAVE"),
            ("MONITOR",),
            ("ACL", "SETUSER", "fbq-admin", "+@all"),
            ("EVALSHA", "0" * 40, "0"),
            ("GET", "other"),
        ]:
            await _noperm(_command(admin, *command))
    finally:
        await admin.aclose()


async def test_fbq_check_runs_as_admin(acl_server: AclServer, queues: tuple[Queue, Queue]) -> None:
    """`fbq check` reads every queue key (lanes, held and ready zsets, the fair hash) as fbq-admin,
    with a lane held at its key's max_active."""
    ingest, worker = queues
    await ingest.set_quota("school-a", max_active=1)
    for text in ("one", "two"):
        await ingest.enqueue(submission(text, fairness_key="school-a"))
    assert len((await worker.take("w-a", 2)).jobs) == 1
    admin = role_queue(acl_server, "admin", FakeClock())
    try:
        report = await check(admin)
    finally:
        await admin.close()
    assert report.jobs == 2
    assert report.violations == []


async def test_the_users_are_the_services_people_and_the_probe(root: Redis) -> None:
    """KEDA has no Redis user: it reads the waiting count from the gateway (test_k8s.py)."""
    users = {u.decode() if isinstance(u, bytes) else u for u in await root.acl_users()}
    assert users == {"default", "fbq-ingest", "fbq-worker", "fbq-admin", "fbq-probe", TEST_ROOT}


async def test_no_default_user_and_wrong_passwords_fail_fast(acl_server: AclServer) -> None:
    anonymous = Redis(host="127.0.0.1", port=acl_server.port)
    try:
        assert isinstance(await _refused(anonymous.ping()), rex.AuthenticationError)
        with pytest.raises(rex.AuthenticationError):
            await _command(anonymous, "AUTH", "default", "anything-at-all-16")
    finally:
        await anonymous.aclose()
    wrong = acl_server.settings("ingest", REDIS_PASSWORD="not-the-password-at-all")
    queue = Queue.from_settings(wrong, create_client(wrong.redis))
    try:
        with pytest.raises(QueueAuthError, match="refused the credentials"):
            await require_redis(queue, 5.0)
    finally:
        await queue.close()


def test_render_refuses_missing_or_short_passwords(tmp_path: Path) -> None:
    secrets = tmp_path / "secret"
    secrets.mkdir()
    for role in ROLES:
        (secrets / f"{role}-password").write_text("x" * 32)
    (secrets / "admin-password").write_text("short")
    result = render_acl(secrets, tmp_path / "users.acl")
    assert result.returncode != 0
    assert "shorter than 16 bytes" in result.stderr
    (secrets / "admin-password").unlink()
    result = render_acl(secrets, tmp_path / "users.acl")
    assert result.returncode != 0
    assert "admin-password is missing" in result.stderr
    assert not (tmp_path / "users.acl").exists()


def test_rendered_acl_holds_hashes_not_passwords(tmp_path: Path) -> None:
    secrets = tmp_path / "secret"
    secrets.mkdir()
    for role in ROLES:
        (secrets / f"{role}-password").write_text(f"{role}-password-long-enough")
    # A Secret from before fair share still holds KEDA's old password: it is ignored.
    (secrets / "keda-password").write_text("keda-password-long-enough")
    out = tmp_path / "users.acl"
    assert render_acl(secrets, out).returncode == 0
    text = out.read_text()
    assert "password-long-enough" not in text
    assert not re.search(r"@[A-Z]+_PASSWORD_SHA256@", text)
    assert len(re.findall(r" #[0-9a-f]{64} ", text)) == len(ROLES)
    assert not any(line.startswith("#") for line in text.splitlines())
    assert out.stat().st_mode & 0o077 == 0


async def test_debug_and_modules_are_off_for_everyone(root: Redis) -> None:
    for command in [
        ("DEBUG", "SLEEP", "0"),
        ("MODULE", "LOAD", "/nonexistent.so"),
        ("CONFIG", "SET", "dir", "/"),
    ]:
        error = await _refused(_command(root, *command))
        assert "not allowed" in str(error) or "protected" in str(error), (command, error)
