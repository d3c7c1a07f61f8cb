"""Per-principal caps end to end over gRPC: an interceptor that names the caller (as the
authenticating one does, ingest_service/identity.py) runs before the caps, which then count
each principal apart. The principal comes from a test header here, set in intercept_service as
the authenticating interceptor sets it from a credential."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from feedback_queue.connection import create_client
from feedback_queue.credentials import Principal, Role
from feedback_queue.queue import Queue
from feedback_queue.settings import Bounds, QueueConfig
from feedback_queue.up.embedded import EmbeddedRedis
from feedback_queue.v1 import queue_pb2 as pb
from feedback_queue.v1 import queue_pb2_grpc as pb_grpc
from ingest_service import identity
from ingest_service.auth import Continuation, Handler, _Interceptor
from ingest_service.bounds import BoundsInterceptor
from ingest_service.decoding import DecodeErrorInterceptor
from ingest_service.submissions import SubmissionServicer
from tests.conftest import redis_settings
from tests.helpers import submission
from tests.ingest.real import reason_in, reply, submit_stream

HEADER = "x-test-principal"


class NamedByHeader(_Interceptor):
    """Sets the call's principal from a header, as an authenticating interceptor would."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        metadata = dict(handler_call_details.invocation_metadata or ())
        name = str(metadata.get(HEADER, "anonymous"))
        identity.CURRENT.set(Principal(name, Role.PRODUCER))
        return await continuation(handler_call_details)


@pytest.fixture
async def address(redis_server: EmbeddedRedis, queue_name: str) -> AsyncIterator[str]:
    client = create_client(redis_settings(redis_server))
    queue = Queue(client, QueueConfig(name=queue_name))
    bounds = Bounds(max_streams=3, max_streams_per_principal=2)
    server = grpc.aio.server(
        interceptors=[NamedByHeader(), BoundsInterceptor(bounds), DecodeErrorInterceptor()]
    )
    pb_grpc.add_SubmissionServiceServicer_to_server(SubmissionServicer(queue), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)
    await client.aclose()


async def test_one_principal_at_its_stream_cap_leaves_room_for_another(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:

        def stream(who: str):  # type: ignore[no-untyped-def]
            return submit_stream(channel, ((HEADER, who),))

        async def served(call) -> bool:  # type: ignore[no-untyped-def]
            """Whether the stream answers a request (a refused one has ended already)."""
            try:
                await call.write(pb.SubmitRequest(submission=submission("hello")))
                return bool((await reply(call)).HasField("accepted"))
            except (AssertionError, asyncio.InvalidStateError, grpc.aio.AioRpcError):
                return False

        flooder, admitted = [], []
        for _ in range(3):  # one after another: the server counts them in that order
            flooder.append(stream("flooder"))
            admitted.append(await served(flooder[-1]))
        assert admitted == [True, True, False]
        assert reason_in(await flooder[2].trailing_metadata()) == "TOO_MANY_STREAMS"
        assert "FBQ_MAX_STREAMS_PER_PRINCIPAL" in (await flooder[2].details() or "")
        honest = stream("honest")
        assert await served(honest)  # the flooder's cap is its own: the honest one is served
        late = stream("third")
        assert not await served(late)  # all three slots of the total are taken
        assert "FBQ_MAX_STREAMS)" in (await late.details() or "")
        for call in (*flooder[:2], honest):
            await call.done_writing()
            assert await call.code() == grpc.StatusCode.OK
