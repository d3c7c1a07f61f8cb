"""Issue #21's flood: one principal abuses SubmitStream and WatchSubmission while another submits.

The flooder (flood.py, its own process and connections) keeps more SubmitStream calls open than
ingest allows, writing requests as large as a stream keeps and reading no reply, and more
WatchSubmission calls than allowed, of a 250 KB submission, reading nothing. Meanwhile an honest
producer with its own credential submits 800 submissions at 100/s. Pass: every honest submission
is accepted at its first try and processed (lost 0, unexpected 0, duplicated 0), ingest's RSS
(read from /proc) stays under the manifests' 512 Mi limit, readiness never leaves SERVING
(grpc.health.v1 Watch), the flood is refused TOO_MANY_STREAMS and TOO_MANY_WATCHES, and ingest
logs a handful of lines, not thousands.

Principals: each producer has its own credential in FBQ_CREDENTIALS_FILE (feedback_queue/
credentials.add). With the default caps the flooder meets FBQ_MAX_STREAMS_PER_PRINCIPAL and
FBQ_MAX_WATCHES_PER_PRINCIPAL; with its caps raised to the totals it takes all that every
principal together may hold, the worst case for memory. The test's own calls (the drain's
stats) carry an admin credential; the watched submission is the flooder's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import grpc
import pytest

from feedback_queue import credentials
from feedback_queue.credentials import Role
from feedback_queue.settings import Bounds
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.chaos.conftest import MakeStack
from tests.chaos.harness import SERVING, Service
from tests.chaos.journal import ACK, ATTEMPT
from tests.chaos.report import report
from tests.secrets import secret

LIMIT_MIB = 512  # deploy/: the ingest container's memory limit
HONEST = 800
CAPPED = ("STREAMS", "WATCHES")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


async def sample_rss(pid: int, seen: list[float]) -> None:
    while True:
        seen.append(rss_mib(pid))
        await asyncio.sleep(0.1)


# "defaults": the flooder meets its own caps. "totals": its caps raised to the totals, as if
# many principals flooded together: the memory the totals allow, all of it taken.
CAPS = {
    "defaults": {},
    "totals": {
        "FBQ_MAX_STREAMS_PER_PRINCIPAL": str(Bounds.max_streams),
        "FBQ_MAX_WATCHES_PER_PRINCIPAL": str(Bounds.max_watches),
    },
}


@pytest.mark.parametrize("caps", list(CAPS))
async def test_a_flooding_principal_leaves_another_served_and_ingest_bounded(
    make_stack: MakeStack, tmp_path: Path, caps: str
) -> None:
    creds = tmp_path / "credentials"
    honest = secret(credentials.add(creds, "grader-app", Role.PRODUCER))
    flooder = secret(credentials.add(creds, "flooder", Role.PRODUCER))
    admin = secret(credentials.add(creds, "chaos-test", Role.ADMIN))
    stack = await make_stack(seed=301, worker_env={"FBQ_HEARTBEAT_GRACE": "15s"})
    stack.authorize(admin)
    ingest = await stack.start_ingest(FBQ_CREDENTIALS_FILE=str(creds), **CAPS[caps])
    await stack.start_workers(2)
    rss_before = rss_mib(ingest.pid)

    # The flood's watch target: 250 KB, held ACTIVE (its gate closed) while the flood lasts.
    gate = tmp_path / "open-the-watched-one"
    # The flooder's own (a producer sees only its own), journaled like a producer's submit.
    watched = pb.Submission(
        submitter_id="flooder",
        content="w" * 250_000,
        metadata={"gate": str(gate)},
        idempotency_key="watched",
    )
    async with grpc.aio.insecure_channel(stack.ingest_addr) as channel:
        stack.record(ATTEMPT, "watched")
        target = await pb_grpc.SubmissionServiceStub(channel).Submit(
            pb.SubmitRequest(submission=watched),
            metadata=(("authorization", f"Bearer {flooder}"),),
            timeout=10,
        )
        stack.record(ACK, "watched", target.id, int(target.duplicate))

    readiness: list[int] = []
    rss: list[float] = []
    watchers = [
        asyncio.create_task(ingest.watch_health("readiness", readiness)),
        asyncio.create_task(sample_rss(ingest.pid, rss)),
    ]
    outcomes_file = tmp_path / "flood.json"
    flood = Service(
        "flood",
        [
            sys.executable,
            "-m",
            "tests.chaos.flood",
            f"--addr={stack.ingest_addr}",
            f"--token={flooder}",
            f"--watch={target.id}",
            f"--out={outcomes_file}",
        ],
        dict(stack.base_env),
        stack.folder / "flood.log",
    )
    stack.services.append(flood.start())
    # The flood is at its height (every cap it meets refusing it) before the honest producer
    # starts: ingest logs each kind of refusal the first time (a log file: no event crosses
    # processes).
    async with asyncio.timeout(60):
        while not all(f"TOO_MANY_{cap}" in ingest.output() for cap in CAPPED):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    stack.start_producer("honest", count=HONEST, concurrency=8, rate=100, token=honest)
    await stack.wait_producers(timeout=120)

    assert flood.process is not None
    flood.process.terminate()
    assert await flood.exit_code(60) == 0, flood.output()[-3000:]
    for task in watchers:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*watchers)
    peak = rss_mib(ingest.pid, "VmHWM")
    gate.touch()  # the watched submission may finish now
    counts = await stack.drain_and_count()

    outcomes: dict[str, int] = json.loads(outcomes_file.read_text())
    log = ingest.output().splitlines()
    refusal_lines = [line for line in log if "TOO_MANY_" in line]
    report(
        f"{stack.name} figures caps={caps}",
        f"rss_before={rss_before:.0f}MiB rss_max={max(rss):.0f}MiB peak={peak:.0f}MiB "
        f"readiness={sorted(set(readiness))} flood={outcomes} ingest_log_lines={len(log)}",
    )
    # Every honest submission accepted at its first try, and processed once.
    assert counts.acknowledged == counts.attempted == HONEST + 1
    assert (counts.lost, counts.unexpected, counts.duplicated) == (0, 0, 0)
    assert stack.error_codes() == set(), "the honest producer was refused"
    # Ingest held, and said so the whole time.
    assert peak < LIMIT_MIB, f"ingest RSS peaked at {peak:.0f} MiB"
    assert readiness, "no readiness status seen"
    assert set(readiness) == {SERVING}
    # The flood was refused by the caps, and the refusals are a handful of log lines.
    assert outcomes.get("RESOURCE_EXHAUSTED TOO_MANY_STREAMS", 0) > 0
    assert outcomes.get("RESOURCE_EXHAUSTED TOO_MANY_WATCHES", 0) > 100
    assert len(refusal_lines) <= 20, "\n".join(refusal_lines[:20])
    assert len(log) < 200, "\n".join(log[-50:])
