"""`fbq up` (with its embedded Redis, and with --memory) driven by the `fbq` CLI, end to end."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from feedback_queue.credentials import token_hash
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.secrets import secret
from tests.up.conftest import Up, alive, ends_within

TEXT = "The river was quiet that morning. We walked along it until the bridge, then turned back."

MODES = {"redis": (), "memory": ("--memory",)}


@pytest.mark.parametrize("mode", MODES)
def test_submit_wait_status_stats_dead_letters_pause_and_health(
    make_up: Callable[..., Up], tmp_path: Path, mode: str
) -> None:
    up = make_up(*MODES[mode])
    if mode == "memory":  # nothing on disk, so the CLI takes the token from the environment
        up.env["FBQ_GRPC_TOKEN"] = up.env["FBQ_ADMIN_TOKEN"] = secret("memory-mode-token")
    up.start()

    done = up.fbq_json("submit", TEXT, "--submitter", "ada", "--wait")
    assert done["status"] == "COMPLETED"
    assert '"words":' in done["result"]
    assert up.fbq_json("status", done["id"])["status"] == "COMPLETED"
    assert up.fbq_json("stats")["completed"] >= 1

    # A poisoned piece ends FAILED (exit 1), is listed as dead, and completes once retried.
    poisoned = up.fbq("submit", "POISON " + TEXT, "--submitter", "ada", "--wait", "--json")
    assert poisoned.returncode == 1, poisoned.stdout + poisoned.stderr
    dead = up.fbq_json("dead", "list")
    dead_ids = [item["id"] for item in dead["submissions"]]
    assert len(dead_ids) == 1
    assert "poisoned piece" in dead["submissions"][0]["last_error"]
    (tmp_path / "cured").touch()
    assert up.fbq("dead", "retry", dead_ids[0]).returncode == 0
    assert up.fbq_json("status", dead_ids[0], "--watch")["status"] == "COMPLETED"
    assert up.fbq_json("dead", "list")["submissions"] == []

    assert up.fbq("pause").returncode == 0
    assert up.fbq_json("stats")["paused"] is True
    assert up.fbq("resume").returncode == 0
    assert up.fbq_json("stats")["paused"] is False
    assert up.fbq_json("submit", TEXT, "--submitter", "ada", "--wait")["status"] == "COMPLETED"

    # The probes Kubernetes would make: exit 0 when SERVING, 1 otherwise.
    assert up.fbq("health", up.ingest, "--service", "readiness").returncode == 0
    assert up.fbq("health", up.worker_health, "--service", "liveness").returncode == 0
    assert up.fbq("health", up.ingest, "--service", "no.such.Service").returncode == 1
    assert up.fbq("health", f"127.0.0.1:{free_port()}", "--timeout", "2").returncode == 1

    health = httpx.get(
        f"{up.gateway}/api/admin/system/redis-health",
        headers={"Authorization": f"Bearer {up.token}"},
        timeout=10,
    ).json()
    if mode == "memory":  # the same Redis, with persistence off
        assert (health["connected"], health["status"]) == (True, "degraded")
        assert any("AOF is off" in warning for warning in health["warnings"])
    else:
        assert (health["connected"], health["status"]) == (True, "healthy")
        # A credential each (#21): the CLI's .fbq/token is admin `cli`, the gateway calls
        # ingest as operator `gateway`, which may pause (the dashboard's buttons).
        names = [
            line.split()[:2]
            for line in (tmp_path / ".fbq" / "credentials").read_text().splitlines()
            if not line.startswith("#")
        ]
        assert names == [["cli", "admin"], ["gateway", "operator"]]
        assert token_hash(up.token) in (tmp_path / ".fbq" / "credentials").read_text()
        bearer = {"Authorization": f"Bearer {up.token}"}
        pause = httpx.post(f"{up.gateway}/api/admin/queue/pause", headers=bearer, timeout=10)
        assert pause.status_code == httpx.codes.OK, pause.text
        assert httpx.post(f"{up.gateway}/api/admin/queue/resume", headers=bearer, timeout=10)

    pids = up.pids()
    assert up.interrupt() == 0, up.output()
    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert up.token not in up.output()  # not a terminal: the token is not printed


def test_a_second_run_on_the_same_data_dir_finds_the_submissions(
    make_up: Callable[..., Up],
) -> None:
    up = make_up().start()
    completed = up.fbq_json("submit", TEXT, "--submitter", "ada", "--wait")["id"]
    assert up.fbq("pause").returncode == 0
    waiting = up.fbq_json("submit", TEXT + " Again.", "--submitter", "ada")["id"]
    pids = up.pids()
    assert up.interrupt() == 0, up.output()
    assert [name for name, pid in pids.items() if alive(pid)] == []

    up.start()  # the same data dir, the same Redis files
    assert up.fbq_json("status", completed)["status"] == "COMPLETED"
    assert up.fbq_json("status", waiting)["status"] == "WAITING"  # still paused
    assert up.fbq("resume").returncode == 0
    assert up.fbq_json("status", waiting, "--watch")["status"] == "COMPLETED"


def test_two_stacks_cannot_share_a_data_dir(make_up: Callable[..., Up]) -> None:
    first = make_up().start()
    second = make_up()
    second.process = None
    done = second.fbq("up")
    assert done.returncode == 1
    assert "another `fbq up` is using .fbq" in done.stderr
    assert first.process is not None
    assert first.process.poll() is None


def test_with_redis_url_it_uses_that_redis_and_leaves_it_running(
    make_up: Callable[..., Up], make_server: Callable[..., EmbeddedRedis], tmp_path: Path
) -> None:
    server = make_server(password=secret("s3cret-for-up"))
    up = make_up()
    up.env["REDIS_URL"] = f"redis://:s3cret-for-up@127.0.0.1:{server.port}/0"
    up.env["FBQ_QUEUE"] = "up-external"
    up.start()
    assert f"redis://127.0.0.1:{server.port}/0" in up.output()
    assert "redis=" not in next(x for x in up.lines if x.strip().startswith("processes"))
    assert not (tmp_path / ".fbq" / "redis").exists()
    assert up.fbq_json("submit", TEXT, "--submitter", "ada", "--wait")["status"] == "COMPLETED"
    assert up.interrupt() == 0, up.output()
    assert server.process is not None
    assert server.process.poll() is None  # not ours to stop
    assert "s3cret-for-up" not in up.output()


def test_a_killed_fbq_up_leaves_no_process_behind(make_up: Callable[..., Up]) -> None:
    up = make_up().start()
    pids = up.pids()
    assert set(pids) == {"worker-1", "ingest", "gateway", "redis"}
    assert up.process is not None
    up.process.kill()  # no chance to stop anything itself
    up.process.wait(10)
    assert [name for name, pid in pids.items() if not ends_within(pid, 30)] == []


def test_a_child_that_cannot_start_stops_the_stack_with_its_reason(
    make_up: Callable[..., Up],
) -> None:
    up = make_up()
    with socket.socket() as taken:  # the gateway's port is in use
        taken.bind(("127.0.0.1", int(up.env["FBQ_GATEWAY_PORT"])))
        taken.listen()
        done = up.fbq("up")
    assert done.returncode == 1
    assert "fbq up: gateway exited with code" in done.stderr
    assert "address already in use" in done.stdout + done.stderr
    assert "Feedback Queue is up." not in done.stdout
    assert done.stdout.rstrip().endswith("stopped")


def test_memory_demo_keeps_nothing_on_disk_after_ctrl_c(
    make_up: Callable[..., Up], tmp_path: Path
) -> None:
    before = set(tmp_path.iterdir())
    up = make_up("--memory", "--demo").start()
    folder = Path(re.search(r"its folder \((\S+)\)", up.output()).group(1))  # type: ignore[union-attr]
    assert (folder / "redis").is_dir()
    assert up.wait_for("demo | [########################] 8/8"), up.output()
    pids = up.pids()
    assert up.interrupt() == 0, up.output()
    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert not folder.exists()
    assert set(tmp_path.iterdir()) == before  # no .fbq, no dump.rdb, no appendonlydir


def test_memory_refuses_an_external_redis(make_up: Callable[..., Up]) -> None:
    up = make_up()
    up.env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    done = up.fbq("up", "--memory")
    assert done.returncode == 1
    assert "--memory starts a Redis of its own" in done.stderr


def test_a_local_stack_binds_loopback_unless_told_otherwise(make_up: Callable[..., Up]) -> None:
    up = make_up().start()
    ports = ports_of(up)
    assert listening(ports) == {port: {"127.0.0.1"} for port in ports}
    assert "bound to          127.0.0.1" in up.output()
    assert "plain HTTP" not in up.output()  # the gateway's warning is for exposed stacks
    assert up.interrupt() == 0, up.output()

    exposed = make_up("--host", "0.0.0.0").start()
    ports = ports_of(exposed)
    # Every interface: gRPC binds 0.0.0.0 as the dual-stack "::".
    assert all(found and found <= {"0.0.0.0", "::"} for found in listening(ports).values())
    assert set(listening(ports)) == ports
    assert "plain HTTP" in exposed.output()


def ports_of(up: Up) -> set[int]:
    names = ("FBQ_INGEST_PORT", "FBQ_WORKER_HEALTH_PORT", "FBQ_GATEWAY_PORT")
    return {int(up.env[name]) for name in names}


def listening(ports: set[int]) -> dict[int, set[str]]:
    """The local addresses listening on `ports`, from /proc/net/tcp and tcp6 (an IPv4-mapped
    IPv6 address, as gRPC binds 127.0.0.1, is shown as its IPv4 address)."""
    found: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.split(":")
            if state != "0A" or int(port, 16) not in ports:  # 0A: LISTEN
                continue
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            raw = b"".join(
                bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8)
            )
            ip = ipaddress.ip_address(raw)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            found.setdefault(int(port, 16), set()).add(str(ip))
    return found


def private_entries(folder: Path) -> dict[str, str]:
    """Every entry of `folder` (itself included) that others may read or enter, by mode."""
    entries = [folder, *folder.rglob("*")]
    return {str(p): oct(p.stat().st_mode & 0o777) for p in entries if p.stat().st_mode & 0o077}


def test_the_data_dir_and_redis_files_are_private(make_up: Callable[..., Up]) -> None:
    # #21 finding 10: an existing .fbq was reused at 0755, the AOF files in it were 0644.
    up = make_up()
    data = up.folder / ".fbq"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    up.start()
    assert up.wait_for("took their rights off 1 of its entries", timeout=1), up.output()
    assert up.fbq_json("submit", TEXT, "--submitter", "ada", "--wait")["status"] == "COMPLETED"
    assert list((data / "redis").rglob("*.aof")), "no AOF files: nothing was checked"
    assert private_entries(data) == {}
    assert up.interrupt() == 0, up.output()
    # As an older version left them: the folders 0755, the AOF and every other file 0644.
    for entry in [data, *data.rglob("*")]:
        entry.chmod(0o755 if entry.is_dir() else 0o644)
    (data / "notes").write_text("someone else's file, kept as it is")
    (data / "notes").chmod(0o644)
    up.start()
    assert up.wait_for("took their rights off", timeout=1), up.output()
    assert private_entries(data) == {str(data / "notes"): "0o644"}  # not ours: left alone
