"""The client's pure parts, without a server: chunking, the retry policy, the error details,
the service config as installed, the target from the environment."""

from __future__ import annotations

import random
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from feedback_queue.backoff import Backoff
from feedback_queue.client import (
    Backpressure,
    FbqError,
    RetryPolicy,
    Submission,
    Unavailable,
    published_service_config,
)
from feedback_queue.client.channel import client_service_config
from feedback_queue.client.chunking import chunks, framed
from feedback_queue.client.errors import read_details
from feedback_queue.client.retry import retrying
from feedback_queue.client.target import resolve
from feedback_queue.errors import ConfigError
from feedback_queue.settings import Settings
from feedback_queue.v1 import queue_pb2 as pb


def test_framed_sizes_add_up_to_the_batch_request() -> None:
    requests = [Submission("x" * n, "s1", delay=n).request() for n in (0, 1, 100, 200, 20000)]
    batch = pb.SubmitBatchRequest(requests=requests)
    assert sum(framed(r.ByteSize()) for r in requests) == batch.ByteSize()


def test_chunks_by_count_and_by_bytes() -> None:
    assert chunks([], 3, 100) == []
    assert chunks([10] * 7, 3, 1000) == [range(0, 3), range(3, 6), range(6, 7)]
    assert chunks([40, 40, 40, 10, 10], 10, 100) == [range(0, 2), range(2, 5)]
    # An item over the byte limit goes alone; the server says what is wrong with it.
    assert chunks([10, 500, 10], 10, 100) == [range(0, 1), range(1, 2), range(2, 3)]
    assert chunks([100, 100], 10, 100) == [range(0, 1), range(1, 2)]


def unavailable() -> Unavailable:
    return Unavailable("away", code=grpc.StatusCode.UNAVAILABLE)


def test_the_policy_retries_unavailable_and_backpressure_that_fits() -> None:
    policy = RetryPolicy(attempts=3, backoff=Backoff(base=0.1, cap=1.0, rng=random.Random(1)))
    assert policy.delay(unavailable(), 1, 10.0) is not None
    assert policy.delay(unavailable(), 3, 10.0) is None  # the attempts are used up
    assert policy.delay(unavailable(), 1, 0.01) is None  # it would not start in time
    full = Backpressure("full", code=grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after=1.0)
    assert policy.delay(full, 1, 10.0) == 1.0
    assert policy.delay(full, 1, 0.9) is None  # a minute's rate limit is raised at once
    too_big = Backpressure("message larger than max", code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert policy.delay(too_big, 1, 10.0) is None  # gRPC's own: no retry can cure it
    assert policy.delay(FbqError("bug", code=grpc.StatusCode.INTERNAL), 1, 10.0) is None


async def test_retrying_waits_as_the_policy_says_without_sleeping() -> None:
    waits: list[float] = []
    now = [0.0]
    told: list[int] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    tries = 0

    async def attempt(left: float) -> str:
        nonlocal tries
        tries += 1
        if tries < 4:
            raise unavailable()
        return f"done with {left:g}s left"

    policy = RetryPolicy(
        attempts=5,
        backoff=Backoff(base=0.1, cap=0.4, rng=random.Random(3)),
        on_retry=lambda _, n, __: told.append(n),
    )
    answer = await retrying(policy, 10.0, attempt, clock=lambda: now[0], sleep=sleep)
    assert tries == 4
    assert told == [1, 2, 3]
    assert [0.05 <= w <= 0.1 for w in waits[:1]] == [True]
    assert all(w <= 0.4 for w in waits)
    assert answer == f"done with {10.0 - sum(waits):g}s left"


def status_trailer(*details: object) -> tuple[str, bytes]:
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)  # type: ignore[arg-type]
        packed.append(any_detail)
    status = status_pb2.Status(code=3, message="m", details=packed)
    return ("grpc-status-details-bin", status.SerializeToString())


def test_read_details_of_every_kind() -> None:
    violation = error_details_pb2.BadRequest.FieldViolation(field="submission.kind")
    trailers = [
        status_trailer(
            error_details_pb2.ErrorInfo(reason="INVALID_FIELD", domain="feedback-queue"),
            error_details_pb2.BadRequest(field_violations=[violation]),
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=250_000_000)),
        )
    ]
    found = read_details(trailers)
    assert (found.reason, found.field, found.retry_after) == (
        "INVALID_FIELD",
        "submission.kind",
        0.25,
    )
    # Without RetryInfo, our older trailer; nothing readable, nothing found.
    assert read_details([("retry-after-ms", "1500")]).retry_after == 1.5
    assert read_details([("retry-after-ms", "soon")]).retry_after is None
    assert read_details([]).reason == ""


def test_the_installed_service_config() -> None:
    published = published_service_config()
    installed = client_service_config()
    assert [m["name"] for m in installed["methodConfig"]] == [
        m["name"] for m in published["methodConfig"]
    ]
    assert any("timeout" in m for m in published["methodConfig"])
    assert all("timeout" not in m for m in installed["methodConfig"])
    retried = [m["retryPolicy"] for m in installed["methodConfig"] if "retryPolicy" in m]
    assert retried
    assert all(p["retryableStatusCodes"] == ["UNAVAILABLE"] for p in retried)
    assert installed["retryThrottling"] == published["retryThrottling"]


def test_the_service_config_names_every_method() -> None:
    """Each call gets its deadline and retries in every language: none is left out."""
    named = {
        f"{n['service']}/{n['method']}"
        for m in published_service_config()["methodConfig"]
        for n in m["name"]
    }
    methods = {
        f"{service.full_name}/{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert named == methods


def test_the_target_is_found_as_fbq_finds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"FBQ_INGEST_ADDR": "ingest:1234"})
    assert resolve(settings).address == "ingest:1234"
    assert resolve(settings, address="other:1").address == "other:1"
    assert resolve(settings).token is None

    (tmp_path / ".fbq").mkdir()
    (tmp_path / ".fbq" / "token").write_text("from-fbq-up\n")
    target = resolve(settings)
    assert (target.token, target.token_source) == ("from-fbq-up", ".fbq/token")

    from_env = resolve(Settings.from_env({"FBQ_GRPC_TOKEN": "from-env"}))
    assert (from_env.token, from_env.token_source) == ("from-env", "FBQ_GRPC_TOKEN")
    assert "from-env" not in repr(from_env)
    assert from_env.metadata == (("authorization", "Bearer from-env"),)

    given = tmp_path / "token.txt"
    given.write_text("from-file")
    assert resolve(settings, token_file=given).token == "from-file"
    with pytest.raises(ConfigError, match="cannot read the token file"):
        resolve(settings, token_file=tmp_path / "nope")


def test_a_submission_and_its_request() -> None:
    sub = Submission("text", "s1", kind="essay", metadata={"a": "b"}, delay=1.5)
    request = sub.request()
    assert request.submission.idempotency_key == sub.idempotency_key
    assert request.delay.ToMilliseconds() == 1500
    assert Submission.from_request(request) == sub
    keyless = pb.SubmitRequest(submission=pb.Submission(content="c", submitter_id="s"))
    made = Submission.from_request(keyless)
    assert made.idempotency_key
    assert made.delay is None
