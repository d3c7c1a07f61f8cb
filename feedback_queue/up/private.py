"""The data dir of `fbq up` is ours alone: the folder 0700, nothing in it readable by others.

An older `fbq up` (or a `mkdir .fbq` by hand) left a folder of mode 0755 with Redis's AOF
files at 0644 in it: every submission readable by any local user. `tighten` takes the group's
and others' rights off the folder and everything in it, and says how many it changed; the
embedded redis-server runs with umask 077, so the files it writes later are 0600 too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def tighten(folder: Path) -> int:
    """Take group and other rights off `folder` and everything under it (links are left alone,
    never followed); how many entries changed."""
    changed = 0
    for entry in [folder, *folder.rglob("*")]:
        mode = entry.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & _OTHERS:
            os.chmod(entry, stat.S_IMODE(mode) & ~_OTHERS)
            changed += 1
    return changed
