"""The client's channels: the published service config, retries on, no receive limit.

The service config (feedback_queue/v1/service_config.json, published for every language)
makes gRPC itself retry UNAVAILABLE and RESOURCE_EXHAUSTED with backoff, honouring the server's
`grpc-retry-pushback-ms`. This client installs it with two changes, because it sets a deadline
on every call and retries within it itself (retry.py):
- no `timeout`s: they are a default for clients that set no deadline, and gRPC takes the
  shorter of that and the call's own (no unary call could be given more than 10 s);
- RESOURCE_EXHAUSTED is not retried by gRPC: it waits out a pushback even past the deadline
  (ingest sends none over 2 s, but waits add up past a deadline shorter than the config's),
  and the caller then gets DEADLINE_EXCEEDED instead of back-pressure. The client retries it
  when the wait fits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import metadata, resources
from typing import Any

import grpc

from feedback_queue import tls
from feedback_queue.client.target import Target

ChannelOption = tuple[str, int | str]
USER_AGENT = f"feedback-queue-python/{metadata.version('feedback-queue')}"


def published_service_config() -> dict[str, Any]:
    """The service config as published (the JSON other languages' clients pass)."""
    text = resources.files("feedback_queue.v1").joinpath("service_config.json").read_text()
    config: dict[str, Any] = json.loads(text)
    return config


def client_service_config() -> dict[str, Any]:
    """The published config as this client installs it (see the module's doc)."""
    config = published_service_config()
    for method in config.get("methodConfig", []):
        method.pop("timeout", None)
        policy = method.get("retryPolicy")
        if policy:
            codes = policy["retryableStatusCodes"]
            policy["retryableStatusCodes"] = [c for c in codes if c != "RESOURCE_EXHAUSTED"]
    return config


def options(
    *, grpc_retries: bool = True, extra: Sequence[ChannelOption] = ()
) -> list[ChannelOption]:
    """Channel options: the service config, gRPC's retries on (or off), then `extra`."""
    return [
        ("grpc.service_config", json.dumps(client_service_config())),
        # Ours, not one a DNS TXT record might offer.
        ("grpc.service_config_disable_resolution", 1),
        ("grpc.enable_retries", 1 if grpc_retries else 0),
        ("grpc.primary_user_agent", USER_AGENT),
        # Ingest bounds its answers (page size, content size); a large page must not fail here.
        ("grpc.max_receive_message_length", -1),
        *extra,
    ]


def aio_channel(target: Target, channel_options: Sequence[ChannelOption]) -> grpc.aio.Channel:
    """An asyncio channel to `target` (made inside the loop that will use it)."""
    return tls.aio_channel(target.address, target.tls, channel_options)


def sync_channel(target: Target, channel_options: Sequence[ChannelOption]) -> grpc.Channel:
    """A blocking channel to `target`."""
    return tls.sync_channel(target.address, target.tls, channel_options)
