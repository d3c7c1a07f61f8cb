"""`fbq up`: Redis, ingest, workers and the gateway on one machine, until Ctrl-C or SIGTERM.

Without REDIS_URL or REDIS_HOST it starts its own redis-server (AOF on) with its data, its
password and the admin token in the data dir (default `./.fbq`, mode 0700; secrets 0600), so a
second `fbq up` finds the earlier submissions. With `--memory` that Redis keeps nothing: no AOF,
no snapshots, and its folder (token included) is a temporary one, removed at stop. Every process
binds `--host` (default 127.0.0.1): a local stack is not reachable from elsewhere unless asked.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feedback_queue import tls
from feedback_queue.errors import ConfigError, QueueError
from feedback_queue.settings import Settings, TlsSettings
from feedback_queue.up import Options, identities
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.up.private import tighten
from feedback_queue.up.supervisor import Child, ChildFailed, Probe, Supervisor, stop_group

MEMORY_NOTICE = """
************************************************************************************
  --memory: Redis keeps NOTHING. No AOF, no snapshots; its folder ({folder})
  is removed when the stack stops, and every submission with it. For a first look
  only. Run `fbq up` without --memory to keep submissions on disk.
************************************************************************************"""

# The addresses that bind every interface: a probe reaches them on loopback.
_WILDCARDS = {"0.0.0.0", "::", "[::]", ""}  # noqa: S104  (compared, not bound)


def run(options: Options, environ: dict[str, str] | None = None) -> int:
    """Run the stack until Ctrl-C or SIGTERM."""
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
        if options.memory and settings.redis.configured:
            raise ConfigError(
                "--memory starts a Redis of its own that keeps nothing; it does not go with "
                "REDIS_URL or REDIS_HOST (unset them, or leave out --memory)"
            )
    except ConfigError as exc:
        print(f"fbq up: {exc}", file=sys.stderr)
        return 1
    if not options.memory:
        stack = Stack(settings, Path(options.data_dir), options, out=sys.stdout)
        return stack.run()
    folder = Path(tempfile.mkdtemp(prefix="fbq-memory-"))
    try:
        print(MEMORY_NOTICE.format(folder=folder), file=sys.stderr, flush=True)
        return Stack(settings, folder, options, out=sys.stdout).run()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def secret_file(path: Path) -> str:
    """The secret kept in `path`, made (and saved with mode 0600) on first use."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        path.chmod(0o600)
        value = path.read_text().strip()
        if value:
            return value
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as file:
        file.write(value + "\n")
    return value


@contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Hold the data dir's lock: two stacks must not share one Redis data folder."""
    fd = os.open(data_dir / "lock", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"another `fbq up` is using {data_dir}; stop it, or pass another --data-dir"
            ) from None
        yield


def token_line(path: Path, out: TextIO) -> str:
    """The admin token for the ready block: shown on a terminal only, never in captured logs."""
    if out.isatty():
        return f"{path.read_text().strip()}  (saved in {path}, mode 0600)"
    return f"in {path} (mode 0600; printed only on a terminal)"


def reach_host(host: str) -> str:
    """Where this machine reaches a server bound to `host` (loopback for a wildcard)."""
    return "127.0.0.1" if host in _WILDCARDS else host


def ready_block(
    settings: Settings, options: Options, redis: str, token: str, processes: str
) -> str:
    """What `fbq up` prints once everything answers its health check."""
    host = reach_host(options.host)
    worker_ports = ", ".join(str(settings.worker_health_port + n) for n in range(options.workers))
    gateway = f"http://{host}:{settings.gateway_port}"
    return "\n".join(
        [
            "",
            "Feedback Queue is up.",
            f"  ingest (gRPC)     {host}:{settings.ingest_port}",
            f"  dashboard         {gateway}/admin",
            f"  admin API         {gateway}/api/admin/system/redis-health, /metrics",
            f"  workers           {options.workers} (health on :{worker_ports})",
            f"  bound to          {options.host}",
            f"  Redis             {redis}",
            f"  admin token       {token}",
            f"  processes         {processes}",
            '  try               fbq submit "A few sentences to give feedback on." --wait',
            "  stop              Ctrl-C",
            "",
        ]
    )


def grpc_serving(address: str, service: str, tls_settings: TlsSettings) -> Probe:
    """A probe: does the grpc.health.v1 server at `address` answer SERVING for `service`?"""

    def probe() -> bool:
        with tls.sync_channel(address, tls_settings) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
            except grpc.RpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    return probe


def http_ok(url: str) -> Probe:
    def probe() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    return probe


@dataclass
class Stack:
    settings: Settings
    data_dir: Path
    options: Options
    out: TextIO

    def run(self) -> int:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        loose = tighten(self.data_dir)
        if loose:
            print(
                f"fbq up: {self.data_dir} was open to other users: took their rights off "
                f"{loose} of its entries (the folder is now mode 0700, nothing in it is "
                "readable by others)",
                file=self.out,
                flush=True,
            )
        try:
            with exclusive(self.data_dir):  # held until Redis has stopped
                return self._run()
        except ConfigError as exc:
            print(f"fbq up: {exc}", file=sys.stderr)
            return 1

    def _run(self) -> int:
        stopping, wake = threading.Event(), threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            stopping.set()
            wake.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        supervisor = Supervisor(self.out, colour=self.out.isatty(), wake=wake)
        redis: EmbeddedRedis | None = None
        groups: list[list[Child]] = []
        try:
            redis_url = None
            if not self.settings.redis.configured:
                redis = self._start_redis()
                redis_url = f"redis://:{redis.password}@127.0.0.1:{redis.port}/0"
            token = secret_file(self.data_dir / "token")
            groups = self._children(token, redis_url)
            for group in groups:
                for child in group:
                    supervisor.start(child)
            everyone = [c for g in groups for c in g]
            supervisor.wait_ready(everyone, self.settings.startup_timeout + 15, stopping)
            if not stopping.is_set():
                self._announce(supervisor, redis)
                if self.options.demo:
                    self._demo(supervisor, token, stopping)
                wake.wait()
            supervisor.check_alive()  # woken by an exit rather than a signal: say which
            return 0
        except (ChildFailed, QueueError) as exc:
            print(f"fbq up: {exc}", file=sys.stderr)
            return 1
        finally:
            if groups:
                supervisor.say("stopping: gateway, ingest, workers, then Redis")
            for group in reversed(groups):
                stop_group(group, self.settings.shutdown_grace + 5)
            if redis is not None:
                redis.stop()
            supervisor.say("stopped")

    def _start_redis(self) -> EmbeddedRedis:
        folder = self.data_dir / "redis"
        password = secret_file(self.data_dir / "redis-password")
        # --memory: nothing written to disk, not even a snapshot at shutdown.
        kept = () if not self.options.memory else ("--save", "")
        return EmbeddedRedis(
            folder,
            binary=self.settings.redis_server_bin,
            password=password,
            appendonly=not self.options.memory,
            extra_args=kept,
            die_with_parent=True,
        ).start()

    def _children(self, token: str, redis_url: str | None) -> list[list[Child]]:
        """Workers, ingest, gateway: the order they start in; they stop in the reverse one."""
        s, host = self.settings, self.options.host
        reach = reach_host(host)
        base = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if redis_url:
            base["REDIS_URL"] = redis_url
        base.setdefault("FBQ_ADMIN_TOKEN", token)
        base["FBQ_INGEST_ADDR"] = f"{reach}:{s.ingest_port}"
        for name in ("FBQ_INGEST_HOST", "FBQ_WORKER_HEALTH_HOST", "FBQ_GATEWAY_HOST"):
            base[name] = host
        ingest_env, gateway_env = dict(base), dict(base)
        if s.grpc_token or s.credentials_file:  # the caller's own credentials: used as given
            ingest_env.setdefault("FBQ_GRPC_TOKEN", token)
            gateway_env.setdefault("FBQ_GRPC_TOKEN", token)
        else:  # a credential each: the CLI (admin, .fbq/token), the gateway (operator)
            stack = identities.write(self.data_dir, token)
            ingest_env["FBQ_CREDENTIALS_FILE"] = str(stack.path)
            gateway_env["FBQ_GRPC_TOKEN"] = stack.gateway_token
        command = [sys.executable, "-m", "feedback_queue.cli"]
        workers = []
        for n in range(self.options.workers):
            port = s.worker_health_port + n
            env = {**base, "FBQ_WORKER_HEALTH_PORT": str(port)}
            if s.worker.metrics_port:  # a port each, as for health
                env["FBQ_WORKER_METRICS_PORT"] = str(s.worker.metrics_port + n)
            workers.append(
                Child(
                    f"worker-{n + 1}",
                    [*command, "worker"],
                    env,
                    grpc_serving(f"{reach}:{port}", "readiness", s.tls),
                )
            )
        ingest = Child(
            "ingest",
            [*command, "ingest"],
            ingest_env,
            grpc_serving(f"{reach}:{s.ingest_port}", "readiness", s.tls),
        )
        gateway = Child(
            "gateway",
            [*command, "gateway"],
            gateway_env,
            http_ok(f"http://{reach}:{s.gateway_port}/healthz"),
        )
        return [workers, [ingest], [gateway]]

    def _announce(self, supervisor: Supervisor, redis: EmbeddedRedis | None) -> None:
        if redis is None:
            where = self.settings.redis.address
        elif self.options.memory:
            where = f"embedded, redis://127.0.0.1:{redis.port}, NOTHING KEPT (--memory)"
        else:
            where = f"embedded, redis://127.0.0.1:{redis.port}, AOF on, data in {redis.data_dir}"
        token = token_line(self.data_dir / "token", self.out)
        pids = " ".join(f"{c.name}={c.pid}" for c in supervisor.children)
        if redis is not None and redis.process is not None:
            pids += f" redis={redis.process.pid}"
        supervisor.say(ready_block(self.settings, self.options, where, token, pids))

    def _demo(self, supervisor: Supervisor, token: str, stopping: threading.Event) -> None:
        """Run the demo beside the main thread, which keeps waiting for Ctrl-C."""
        from feedback_queue.up.demo import run_demo  # noqa: PLC0415

        address = f"{reach_host(self.options.host)}:{self.settings.ingest_port}"
        threading.Thread(
            target=run_demo,
            args=(
                address,
                self.settings.grpc_token or token,
                supervisor.say,
                stopping,
                self.settings.tls,
            ),
            daemon=True,
        ).start()
