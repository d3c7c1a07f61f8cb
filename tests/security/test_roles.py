"""Identities and roles at ingest (#21, finding 2): each principal's credential allows what its
role allows, against a real ingest over real gRPC.

Finding 2 was one token for producers and admins alike: any producer could list, delete and
pause. Now a producer's credential is PERMISSION_DENIED (ROLE_FORBIDS) on AdminService.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2

from feedback_queue.credentials import token_hash
from feedback_queue.settings import TlsSettings
from feedback_queue.tls import aio_channel
from feedback_queue.up.embedded import free_port
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from tests.helpers import submission
from tests.ingest.conftest import Ingest, StartIngest, start_ingest  # noqa: F401  (fixture)
from tests.ingest.test_process import reflected_services
from tests.ingest.test_submit_batch import details
from tests.secrets import secret
from tests.security.certs import Material
from tests.security.conftest import Team

Call = Callable[[Ingest, dict[str, Any]], Awaitable[object]]


def reason(exc: grpc.aio.AioRpcError) -> str:
    return str(cast(error_details_pb2.ErrorInfo, details(exc)["ErrorInfo"]).reason)


async def _stream(ingest: Ingest, kw: dict[str, Any]) -> object:
    call = ingest.submissions.SubmitStream(**kw)
    await call.write(pb.SubmitRequest(submission=submission("streamed")))
    await call.done_writing()
    return [reply async for reply in call]


async def _watch(ingest: Ingest, kw: dict[str, Any]) -> object:
    return await ingest.submissions.WatchSubmission(
        pb.WatchSubmissionRequest(id="nosuch"), **kw
    ).read()


CALLS: dict[str, Call] = {
    "Submit": lambda i, kw: i.submissions.Submit(pb.SubmitRequest(submission=submission()), **kw),
    "SubmitBatch": lambda i, kw: i.submissions.SubmitBatch(
        pb.SubmitBatchRequest(requests=[pb.SubmitRequest(submission=submission())]), **kw
    ),
    "SubmitStream": _stream,
    "GetSubmission": lambda i, kw: i.submissions.GetSubmission(
        pb.GetSubmissionRequest(id="nosuch"), **kw
    ),
    "WatchSubmission": _watch,
    "GetRedisHealth": lambda i, kw: i.admin.GetRedisHealth(pb.GetRedisHealthRequest(), **kw),
    "GetQueueStats": lambda i, kw: i.admin.GetQueueStats(pb.GetQueueStatsRequest(), **kw),
    "ListSubmissions": lambda i, kw: i.admin.ListSubmissions(
        pb.ListSubmissionsRequest(status=pb.WAITING), **kw
    ),
    "RetrySubmission": lambda i, kw: i.admin.RetrySubmission(
        pb.RetrySubmissionRequest(id="nosuch"), **kw
    ),
    "DeleteSubmission": lambda i, kw: i.admin.DeleteSubmission(
        pb.DeleteSubmissionRequest(id="nosuch"), **kw
    ),
    "PauseQueue": lambda i, kw: i.admin.PauseQueue(pb.PauseQueueRequest(), **kw),
    "ResumeQueue": lambda i, kw: i.admin.ResumeQueue(pb.ResumeQueueRequest(), **kw),
    "GetFairShare": lambda i, kw: i.admin.GetFairShare(pb.GetFairShareRequest(), **kw),
    "GetTimings": lambda i, kw: i.admin.GetTimings(pb.GetTimingsRequest(), **kw),
    "CancelSubmission": lambda i, kw: i.submissions.CancelSubmission(
        pb.CancelSubmissionRequest(id="nosuch"), **kw
    ),
    "SetKeyQuota": lambda i, kw: i.admin.SetKeyQuota(
        pb.SetKeyQuotaRequest(key="school-a", weight=2), **kw
    ),
}
READS = {
    "GetSubmission",
    "WatchSubmission",
    "GetRedisHealth",
    "GetQueueStats",
    "ListSubmissions",
    "GetFairShare",
    "GetTimings",
}
STEERS = {
    "RetrySubmission",
    "DeleteSubmission",
    "PauseQueue",
    "ResumeQueue",
    "SetKeyQuota",
    "CancelSubmission",
}
SUBMITS = {"Submit", "SubmitBatch", "SubmitStream"}
# Written out, not derived from credentials.ALLOWED: a change to the model must change this too.
MAY = {
    "alice": SUBMITS | {"GetSubmission", "WatchSubmission", "CancelSubmission"},
    "vera": READS,
    "otto": READS | STEERS,
    "ada": set(CALLS),
}


async def outcome(call: Call, ingest: Ingest, kw: dict[str, Any]) -> grpc.StatusCode:
    try:
        await call(ingest, kw)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("who", sorted(MAY))
async def test_each_role_may_call_what_it_allows_and_is_denied_the_rest(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
    who: str,
) -> None:
    ingest = await start_ingest(credentials_file=str(team.path))
    for method, call in CALLS.items():
        code = await outcome(call, ingest, team.call(who))
        if method in MAY[who]:
            assert code not in {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}
        else:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (who, method)
        if method == "PauseQueue" and code == grpc.StatusCode.OK:
            await ingest.queue.resume()


async def test_a_producer_cannot_list_delete_or_pause(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Finding 2's attack: the producers' token listed every submission, deleted and paused.
    ingest = await start_ingest(credentials_file=str(team.path))
    victim = await ingest.submissions.Submit(
        pb.SubmitRequest(submission=submission("bob's essay")), **team.call("bob")
    )
    attacks: list[Awaitable[object]] = [
        ingest.admin.ListSubmissions(
            pb.ListSubmissionsRequest(status=pb.WAITING), **team.call("alice")
        ),
        ingest.admin.DeleteSubmission(
            pb.DeleteSubmissionRequest(id=victim.id), **team.call("alice")
        ),
        ingest.admin.PauseQueue(pb.PauseQueueRequest(), **team.call("alice")),
    ]
    for attack in attacks:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await attack
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert reason(info.value) == "ROLE_FORBIDS"
        assert "role producer may not call" in (info.value.details() or "")
    assert not await ingest.queue.is_paused()
    assert (await ingest.queue.get(victim.id)).submission.content == "bob's essay"
    # Refused, so not audited; the refusal is logged with the principal.
    assert not [r for r in caplog.records if r.name == "fbq.audit"]
    assert (
        "/feedback_queue.v1.AdminService/PauseQueue refused PERMISSION_DENIED: principal alice "
        "has role producer"
    ) in [r.getMessage() for r in caplog.records]


async def test_a_viewer_reads_but_cannot_steer(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
) -> None:
    ingest = await start_ingest(credentials_file=str(team.path))
    stats = await ingest.admin.GetQueueStats(pb.GetQueueStatsRequest(), **team.call("vera"))
    assert stats.waiting == 0
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.admin.PauseQueue(pb.PauseQueueRequest(), **team.call("vera"))
    assert reason(info.value) == "ROLE_FORBIDS"
    assert not await ingest.queue.is_paused()


async def test_quotas_are_set_by_operators_read_by_viewers_and_audited(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingest = await start_ingest(credentials_file=str(team.path))
    caplog.set_level(logging.INFO, logger="fbq.audit")
    request = pb.SetKeyQuotaRequest(key="school-a", weight=3)
    for who in ("alice", "vera"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ingest.admin.SetKeyQuota(request, **team.call(who))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert reason(info.value) == "ROLE_FORBIDS"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.admin.GetFairShare(pb.GetFairShareRequest(), **team.call("alice"))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    quota = await ingest.admin.SetKeyQuota(request, **team.call("otto"))
    assert (quota.weight, quota.custom) == (3, True)
    share = await ingest.admin.GetFairShare(pb.GetFairShareRequest(), **team.call("vera"))
    assert [(q.key, q.weight) for q in share.quotas] == [("school-a", 3)]
    # Only the operator's change is audited; the refusals are logged as refusals.
    assert [r.getMessage() for r in caplog.records if r.name == "fbq.audit"] == [
        "audit who=principal:otto action=SetKeyQuota target=key:school-a result=OK"
    ]


async def test_a_missing_or_wrong_token_is_unauthenticated(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
) -> None:
    ingest = await start_ingest(credentials_file=str(team.path))
    request = pb.SubmitRequest(submission=submission())
    for metadata, expected in [
        ((), "TOKEN_MISSING"),
        ((("authorization", "Bearer " + secret("not-a-known-token-1f")),), "TOKEN_INVALID"),
        ((("authorization", team.tokens["alice"]),), "TOKEN_INVALID"),  # no "Bearer "
        ((("authorization", "Bearer " + token_hash(team.tokens["alice"])),), "TOKEN_INVALID"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ingest.submissions.Submit(request, metadata=metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason(info.value) == expected


async def test_the_servicer_sees_the_principal_the_interceptor_set(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
) -> None:
    # grpc.aio runs interceptors in the call's task: the contextvar set there reaches the
    # servicer, which records it as the owner; the admin's listing shows it.
    ingest = await start_ingest(credentials_file=str(team.path))
    # Unary submits of two principals at once share the batcher: each write is one owner's.
    unary = await asyncio.gather(
        *(
            ingest.submissions.Submit(
                pb.SubmitRequest(submission=submission(f"{who} {i}")), **team.call(who)
            )
            for i in range(20)
            for who in ("alice", "bob")
        )
    )
    batch = await ingest.submissions.SubmitBatch(
        pb.SubmitBatchRequest(requests=[pb.SubmitRequest(submission=submission("bob's batch"))]),
        **team.call("bob"),
    )
    streamed = await _stream(ingest, team.call("ada"))
    assert isinstance(streamed, list)
    page = await ingest.admin.ListSubmissions(
        pb.ListSubmissionsRequest(status=pb.WAITING, page_size=100), **team.call("ada")
    )
    owners = {info.submission.content: info.principal for info in page.submissions}
    assert owners == {
        **{f"{who} {i}": who for i in range(20) for who in ("alice", "bob")},
        "bob's batch": "bob",
        "streamed": "ada",
    }
    assert len({reply.id for reply in unary}) == 40
    assert batch.accepted == 1


async def test_the_grpc_token_alone_is_an_admin_and_start_up_warns(
    start_ingest: StartIngest,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = secret("lone-grpc-token-a71c")
    caplog.set_level(logging.WARNING, logger="ingest_service.server")
    ingest = await start_ingest(grpc_token=token)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("FBQ_GRPC_TOKEN is an admin credential" in w for w in warnings), warnings
    kw: dict[str, Any] = {"metadata": (("authorization", f"Bearer {token}"),)}
    for method in ("ListSubmissions", "PauseQueue", "ResumeQueue"):
        assert await outcome(CALLS[method], ingest, kw) == grpc.StatusCode.OK
    submitted = await ingest.submissions.Submit(pb.SubmitRequest(submission=submission()), **kw)
    assert (await ingest.queue.get(submitted.id)).owner == "admin"


async def test_a_client_certificate_name_maps_to_its_principal(
    start_ingest: StartIngest,  # noqa: F811
    material: Material,
    tmp_path: Any,
) -> None:
    # The client certificate's subject CN is "client" (tests/security/certs.py).
    path = tmp_path / "credentials"
    path.write_text("grader producer cn:client\n")
    serving = TlsSettings(
        cert=str(material.server.cert),
        key=str(material.server.key),
        client_ca=str(material.ca.path),
    )
    ingest = await start_ingest(credentials_file=str(path), tls=serving)
    unnamed = material.ca.issue("nobody-in-the-file", server=False)

    def stubs(
        cert: Any, key: Any
    ) -> tuple[grpc.aio.Channel, pb_grpc.SubmissionServiceAsyncStub, pb_grpc.AdminServiceAsyncStub]:
        channel = aio_channel(
            f"127.0.0.1:{ingest.server.port}",
            TlsSettings(ca=str(material.ca.path), client_cert=str(cert), client_key=str(key)),
            (("grpc.ssl_target_name_override", "localhost"),),
        )
        return (
            channel,
            pb_grpc.SubmissionServiceStub(channel),
            pb_grpc.AdminServiceStub(channel),
        )

    channel, submissions, admin = stubs(material.client.cert, material.client.key)
    async with channel:
        reply = await submissions.Submit(pb.SubmitRequest(submission=submission()))
        assert (await ingest.queue.get(reply.id)).owner == "grader"
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await admin.PauseQueue(pb.PauseQueueRequest())
        assert reason(info.value) == "ROLE_FORBIDS"
        watch = submissions.WatchSubmission(pb.WatchSubmissionRequest(id=reply.id))
        first = await watch.read()  # a stream: the wrapped handler's path
        assert isinstance(first, pb.SubmissionInfo)
        assert first.id == reply.id
        watch.cancel()
    channel, submissions, _ = stubs(unnamed.cert, unnamed.key)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await submissions.Submit(pb.SubmitRequest(submission=submission()))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason(info.value) == "TOKEN_MISSING"


async def test_health_and_reflection_stay_open(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
) -> None:
    ingest = await start_ingest(credentials_file=str(team.path))
    reply = await ingest.health.Check(health_pb2.HealthCheckRequest(service="readiness"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    services = await asyncio.to_thread(reflected_services, ingest.server.port)
    assert "feedback_queue.v1.AdminService" in services


async def test_the_admin_port_checks_roles_as_the_main_port_does(
    start_ingest: StartIngest,  # noqa: F811
    team: Team,
) -> None:
    # FBQ_INGEST_ADMIN_PORT (#21, finding 12) moves AdminService, not its guard.
    ingest = await start_ingest(credentials_file=str(team.path), ingest_admin_port=free_port())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ingest.server.admin_port}") as channel:
        admin = pb_grpc.AdminServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await admin.PauseQueue(pb.PauseQueueRequest())
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as producer:
            await admin.PauseQueue(pb.PauseQueueRequest(), **team.call("alice"))
        assert producer.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert reason(producer.value) == "ROLE_FORBIDS"
        assert not await ingest.queue.is_paused()
        reply = await admin.PauseQueue(pb.PauseQueueRequest(), **team.call("otto"))
        assert reply.paused
