"""The data dir of `fbq up` is ours alone: the folder 0700, nothing of ours in it readable by
others.

An older `fbq up` (or a `mkdir .fbq` by hand) left a folder of mode 0755 with Redis's AOF
files at 0644 in it: every submission readable by any local user. `tighten` takes the group's
and others' rights off the folder and off what `fbq up` keeps in it (never anything else: a
--data-dir may be a folder holding other work), and says how many entries it changed; the
embedded redis-server runs with umask 077, so the files it writes later are 0600 too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

PRIVATE_UMASK = 0o077
# What `fbq up` keeps in its data dir: the embedded Redis's folder, secrets, the lock.
OURS = ("redis", "token", "redis-password", "credentials", "lock")
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def tighten(data_dir: Path, ours: Iterable[str] = OURS) -> int:
    """Take group and other rights off `data_dir` and off its entries named `ours`, with all
    below them (links are left alone, never followed); how many entries changed."""
    entries = [data_dir]
    for name in ours:
        path = data_dir / name
        if path.exists() and not path.is_symlink():
            entries += [path, *path.rglob("*")] if path.is_dir() else [path]
    changed = 0
    for entry in entries:
        mode = entry.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & _OTHERS:
            os.chmod(entry, stat.S_IMODE(mode) & ~_OTHERS)
            changed += 1
    return changed
