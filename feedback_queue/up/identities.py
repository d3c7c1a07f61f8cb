"""The principals of an `fbq up` stack (#21): one credential per caller, not one shared token.

Ingest gets the credentials file in the data dir (`.fbq/credentials`, where `fbq credentials add`
writes by default), its own two lines rewritten at each start: `cli`, an admin whose token is
the one the `fbq` commands read from `.fbq/token` (and the dashboard's login), and `gateway`, an
operator, whose token only the gateway process gets (FBQ_GRPC_TOKEN, as it calls ingest). Lines
of other principals (added with `fbq credentials add`) are kept. Only hashes are on disk; the
gateway's token lives as long as the stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from feedback_queue.credentials import Role, new_token, token_hash

FILE = "credentials"
HEADER = "# fbq up rewrites cli and gateway at each start; other lines are kept"


@dataclass(frozen=True)
class StackIdentities:
    path: Path
    gateway_token: str


def write(data_dir: Path, cli_token: str) -> StackIdentities:
    """Write `data_dir`/credentials (mode 0600) for this run of the stack."""
    gateway_token = new_token()
    path = data_dir / FILE
    ours = {
        "cli": f"cli {Role.ADMIN.value} {token_hash(cli_token)}",
        "gateway": f"gateway {Role.OPERATOR.value} {token_hash(gateway_token)}",
    }
    kept = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    lines = [line for line in kept if (line.split() or [""])[0] not in ours and line != HEADER]
    lines = [HEADER, *ours.values(), *lines]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    path.chmod(0o600)
    return StackIdentities(path, gateway_token)
