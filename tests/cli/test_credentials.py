"""`fbq credentials add` (#21): the new token alone on stdout, only its hash in the file, and a
token that ingest then takes as that principal with that role."""

from __future__ import annotations

import stat
from pathlib import Path

import grpc
import pytest

from feedback_queue.credentials import Credentials, Principal, Role, token_hash
from feedback_queue.v1 import queue_pb2 as pb
from tests.cli.conftest import fbq_process
from tests.helpers import submission
from tests.ingest.conftest import StartIngest
from tests.secrets import secret


async def test_add_prints_the_token_alone_and_keeps_only_its_hash(
    start_ingest: StartIngest, tmp_path: Path
) -> None:
    # The real command line, in the test's own directory: the default file is .fbq/credentials.
    first = await fbq_process(
        "credentials", "add", "essay-service", "--role", "producer", prints_a_secret=True
    )
    second = await fbq_process(
        "credentials", "add", "dashboard", "--role", "viewer", prints_a_secret=True
    )
    assert (first.code, second.code) == (0, 0), first.err + second.err
    producer, viewer = secret(first.out.strip()), secret(second.out.strip())
    assert first.out == producer + "\n"  # nothing else on stdout
    assert len(producer) == 43
    path = tmp_path / ".fbq" / "credentials"  # the test's working directory (client_env)
    text = path.read_text()
    assert producer not in text
    assert viewer not in text
    assert text.splitlines() == [
        f"essay-service producer {token_hash(producer)}",
        f"dashboard viewer {token_hash(viewer)}",
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert Credentials.load(path).by_token(producer) is not None

    ingest = await start_ingest(credentials_file=str(path))
    as_producer = {"metadata": (("authorization", f"Bearer {producer}"),)}
    reply = await ingest.submissions.Submit(
        pb.SubmitRequest(submission=submission()),
        **as_producer,  # type: ignore[arg-type]
    )
    assert (await ingest.queue.get(reply.id)).owner == "essay-service"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest.admin.GetQueueStats(
            pb.GetQueueStatsRequest(),
            **as_producer,  # type: ignore[arg-type]
        )
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_add_to_a_named_file_and_its_refusals(tmp_path: Path) -> None:
    path = tmp_path / "creds"
    done = await fbq_process(
        "credentials", "add", "ops", "--role", "operator", "--file", str(path), prints_a_secret=True
    )
    assert done.code == 0
    secret(done.out.strip())
    assert Credentials.load(path).by_token(done.out.strip()) == Principal("ops", Role.OPERATOR)
    again = await fbq_process("credentials", "add", "ops", "--role", "admin", "--file", str(path))
    assert (again.code, again.out) == (1, "")
    assert again.err == f"fbq: error: {path}: principal ops has a credential already\n"
    bad = await fbq_process(
        "credentials", "add", "no spaces", "--role", "admin", "--file", str(path)
    )
    assert (bad.code, bad.out) == (1, "")
    assert "a principal is 1-64 of" in bad.err
    env = await fbq_process(
        "credentials",
        "add",
        "from-env",
        "--role",
        "viewer",
        env={"FBQ_CREDENTIALS_FILE": str(path)},
        prints_a_secret=True,
    )
    assert env.code == 0
    secret(env.out.strip())
    assert len(path.read_text().splitlines()) == 2
