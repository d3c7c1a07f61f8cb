"""`fbq credentials add`: a new principal's token on stdout, its hash in the credentials file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from feedback_queue import credentials
from feedback_queue.credentials import Role
from feedback_queue.settings import load

DEFAULT_FILE = Path(".fbq") / "credentials"


def add(args: argparse.Namespace) -> int:
    path = Path(args.file or load("fbq credentials").credentials_file or DEFAULT_FILE)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    token = credentials.add(path, args.name, Role(args.role))
    # stdout is the token alone, for `> name.token` or a secret store's stdin.
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    print(f"added {args.name} ({args.role}) to {path}", file=sys.stderr)
    if sys.stdout.isatty():
        print("the token is shown once: store it now", file=sys.stderr)
    return 0
