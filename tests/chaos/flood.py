"""A flooding principal: SubmitStream and WatchSubmission abuse, as issue #21's review did it.

    python -m tests.chaos.flood --addr 127.0.0.1:PORT --token T --watch ID --out FILE

`--streams` tasks each open a SubmitStream and write requests as large as a stream keeps
(content over FBQ_MAX_CONTENT_BYTES, so nothing reaches Redis) without ever reading a reply:
whatever ingest reads ahead, it holds. `--watches` tasks each open a WatchSubmission of `--watch`
and never read it. A refused or ended call is opened again after `--pause` seconds (the
refusal's RetryInfo). On SIGTERM it writes how each try ended, by status and ErrorInfo reason,
to `--out` (JSON) and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from collections import Counter
from pathlib import Path

import grpc

from feedback_queue.v1 import queue_pb2 as pb
from tests.ingest.real import reason_in, submit_stream, watch_call

BIG = pb.SubmitRequest(
    submission=pb.Submission(
        submitter_id="flood", content="x" * (300 * 1024), instructions="y" * (76 * 1024)
    )
)


class Flood:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.outcomes: Counter[str] = Counter()
        self.stopping = asyncio.Event()
        self.metadata = (("authorization", f"Bearer {args.token}"),)

    async def ended(self, call: grpc.aio.Call) -> None:
        code = await call.code()
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        why = reason_in(await call.trailing_metadata()) or (await call.details() or "")[:60]
        self.outcomes[f"{name} {why}".strip()] += 1
        await asyncio.sleep(self.args.pause)

    async def stream(self, channel: grpc.aio.Channel) -> None:
        while not self.stopping.is_set():
            call = submit_stream(channel, self.metadata)
            try:
                while True:  # blocks for good once ingest stops reading
                    await call.write(BIG)
                    self.outcomes["stream write"] += 1
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                pass
            await self.ended(call)

    async def watch(self, channel: grpc.aio.Channel) -> None:
        while not self.stopping.is_set():
            call = watch_call(channel, self.args.watch, self.metadata)
            await self.ended(call)  # never reads a state: ingest keeps what it sends

    async def run(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.stopping.set)
        # Several connections, as an attacker would open: each one its own HTTP/2 windows.
        channels = [
            grpc.aio.insecure_channel(
                self.args.addr,
                options=[("grpc.use_local_subchannel_pool", 1)],
            )
            for _ in range(self.args.connections)
        ]
        tasks = [
            asyncio.create_task(self.stream(channels[i % len(channels)]))
            for i in range(self.args.streams)
        ]
        tasks += [
            asyncio.create_task(self.watch(channels[i % len(channels)]))
            for i in range(self.args.watches)
        ]
        await self.stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            with contextlib.suppress(Exception):
                await channel.close(grace=None)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.flood")
    parser.add_argument("--addr", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--watch", required=True, help="the submission id to watch")
    parser.add_argument("--out", required=True)
    parser.add_argument("--streams", type=int, default=48)
    parser.add_argument("--watches", type=int, default=1500)
    parser.add_argument("--connections", type=int, default=16)
    # RetryInfo's 1 s: a client that ignores it floods with calls, which no cap can stop.
    parser.add_argument("--pause", type=float, default=1.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    flood = Flood(parse())
    asyncio.run(flood.run())
    Path(flood.args.out).write_text(json.dumps(dict(flood.outcomes), sort_keys=True))
