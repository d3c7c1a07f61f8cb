"""Every refusal read back through the client's exceptions: class, reason, field, retry_after,
and the one-line message `fbq` prints. The details come from the server's google.rpc.Status
(ErrorInfo, BadRequest, RetryInfo) in the `grpc-status-details-bin` trailer."""

from __future__ import annotations

import grpc
import pytest

from feedback_queue.client import (
    NO_RETRIES,
    AsyncClient,
    Backpressure,
    BatchLimits,
    Conflict,
    FbqError,
    InvalidArgument,
    NotFound,
    RetryPolicy,
    Submission,
    Unauthenticated,
    Unavailable,
)
from feedback_queue.client.errors import from_call
from feedback_queue.connection import create_client
from feedback_queue.env import Rate
from feedback_queue.up.embedded import EmbeddedRedis, free_port
from tests.client.conftest import Calls, address
from tests.conftest import redis_settings
from tests.ingest.conftest import Ingest, StartIngest
from tests.secrets import secret

TOKEN = secret("client-s3cret-token")


def plain(ingest: Ingest, **options: object) -> AsyncClient:
    """A client whose errors come straight back: no retries of its own nor gRPC's."""
    return AsyncClient(address(ingest), retry=NO_RETRIES, grpc_retries=False, **options)  # type: ignore[arg-type]


async def test_invalid_field_names_the_field(ingest: Ingest) -> None:
    async with plain(ingest) as client:
        with pytest.raises(InvalidArgument) as info:
            await client.submit("   ", "s1")
    error = info.value
    assert (error.reason, error.field, error.retry_after) == (
        "INVALID_FIELD",
        "submission.content",
        None,
    )
    assert str(error) == "submission.content: required and must not be blank"
    assert not error.retryable


async def test_not_found_and_key_conflict(ingest: Ingest) -> None:
    async with plain(ingest) as client:
        with pytest.raises(NotFound) as missing:
            await client.get("AAAAAAAAAAAA")
        await client.submit("first", "s1", idempotency_key="k")
        with pytest.raises(Conflict) as conflict:
            await client.submit("second", "s1", idempotency_key="k")
    assert (missing.value.reason, missing.value.field) == ("NOT_FOUND", "id")
    assert (conflict.value.reason, conflict.value.field) == (
        "IDEMPOTENCY_KEY_CONFLICT",
        "submission.idempotency_key",
    )


async def test_queue_full_says_when_to_retry(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(max_waiting=1)
    async with plain(ingest) as client:
        await client.submit("fills the queue", "s1")
        with pytest.raises(Backpressure) as info:
            await client.submit("no room", "s1")
    error = info.value
    assert (error.reason, error.retry_after, error.retryable) == ("QUEUE_FULL", 1.0, True)
    assert str(error).endswith("(FBQ_MAX_WAITING); retry later (retry in 1s)")


async def test_a_rate_limit_longer_than_the_deadline_is_raised_at_once(
    start_ingest: StartIngest, calls: Calls
) -> None:
    ingest = await start_ingest(submitter_rate=Rate(1, 60.0))
    # The default retries, gRPC's included: a wait of about a minute does not fit in 10 s.
    async with AsyncClient(address(ingest)) as client:
        await client.submit("within the rate", "s1")
        with pytest.raises(Backpressure) as info:
            await client.submit("over the rate", "s1")
    assert info.value.reason == "RATE_LIMITED"
    assert info.value.retry_after is not None
    assert 50 < info.value.retry_after <= 60
    assert calls.submits == 2  # not retried: neither by gRPC nor by the client


async def test_redis_out_of_memory(
    start_ingest: StartIngest, make_server: type[EmbeddedRedis]
) -> None:
    server = make_server()  # type: ignore[call-arg]
    ingest = await start_ingest(server)
    redis = create_client(redis_settings(server))
    await redis.config_set("maxmemory-policy", "noeviction")
    await redis.config_set("maxmemory", 1)
    await redis.aclose()
    async with plain(ingest) as client:
        with pytest.raises(Backpressure) as info:
            await client.submit("no memory for me", "s1")
    assert (info.value.reason, info.value.retry_after) == ("REDIS_OUT_OF_MEMORY", 1.0)


async def test_storage_unavailable_is_unavailable_and_retried(
    start_ingest: StartIngest, make_server: type[EmbeddedRedis], calls: Calls
) -> None:
    server = make_server()  # type: ignore[call-arg]
    ingest = await start_ingest(server)
    server.stop()
    async with plain(ingest) as client:
        with pytest.raises(Unavailable) as info:
            await client.submit("Redis is gone", "s1")
    assert info.value.reason == "STORAGE_UNAVAILABLE"
    assert str(info.value) == (
        f"ingest at {address(ingest)}: the queue's storage (Redis) is unavailable; "
        "retry with the same idempotency_key"
    )
    assert calls.submits == 1

    # gRPC's retries (the service config: 5 attempts), and the client's own (3 tries).
    retried: list[tuple[str, int]] = []
    policy = RetryPolicy(attempts=3, on_retry=lambda e, n, _: retried.append((e.reason, n)))
    async with AsyncClient(address(ingest), retry=policy) as client:
        with pytest.raises(Unavailable):
            await client.submit("Redis is still gone", "s1")
    assert retried == [("STORAGE_UNAVAILABLE", 1), ("STORAGE_UNAVAILABLE", 2)]
    # gRPC's retry throttling (maxTokens 10, tokenRatio 0.1) allows retries while more than
    # half the tokens are left: after the first try's 5 failures, the client's tries go alone.
    assert calls.submits == 1 + 5 + 1 + 1


async def test_missing_and_wrong_token(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(grpc_token=TOKEN)
    async with plain(ingest) as client:
        with pytest.raises(Unauthenticated) as missing:
            await client.stats()
    async with plain(ingest, token="wr0ng-token") as client:
        with pytest.raises(Unauthenticated) as wrong:
            await client.submit("text", "s1")
    async with plain(ingest, token=TOKEN) as client:
        assert (await client.stats()).enqueued_total == 0
    assert missing.value.reason == "TOKEN_MISSING"
    assert str(missing.value) == (
        f"ingest at {address(ingest)} needs a token: set FBQ_GRPC_TOKEN (or pass a token)"
    )
    assert wrong.value.reason == "TOKEN_INVALID"
    assert "wr0ng" not in str(wrong.value)
    assert str(wrong.value) == (
        f"ingest at {address(ingest)} refused the token from the token given: "
        "set FBQ_GRPC_TOKEN to the token ingest runs with"
    )


async def test_a_batch_over_the_servers_limit(start_ingest: StartIngest) -> None:
    ingest = await start_ingest(max_batch=3)
    async with plain(ingest, limits=BatchLimits(max_items=5)) as client:
        with pytest.raises(InvalidArgument) as info:
            await client.submit_many(Submission(f"essay {i}", "s1") for i in range(5))
    assert (info.value.reason, info.value.field) == ("BATCH_TOO_LARGE", "requests")
    assert "FBQ_MAX_BATCH" in str(info.value)


async def test_an_unreachable_ingest_says_what_to_check() -> None:
    port = free_port()
    async with AsyncClient(f"127.0.0.1:{port}", retry=NO_RETRIES, grpc_retries=False) as client:
        with pytest.raises(Unavailable) as info:
            await client.stats()
    assert str(info.value) == (
        f"cannot reach ingest at 127.0.0.1:{port} (Connection refused): check it is running, "
        "or pass the address or set FBQ_INGEST_ADDR"
    )
    assert info.value.reason == ""  # no server answered
    assert isinstance(info.value, FbqError)


async def test_a_request_that_does_not_parse(ingest: Ingest) -> None:
    # The client never sends one; any caller's bytes get the same reading through from_call.
    async with plain(ingest) as client:
        raw = client.channel.unary_unary(
            "/feedback_queue.v1.SubmissionService/Submit",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw(b"\xff\xff\xff", timeout=5)
    error = from_call(info.value, client.target)
    assert isinstance(error, InvalidArgument)
    assert error.reason == "MALFORMED_REQUEST"
    assert str(error).startswith("the request does not parse")
