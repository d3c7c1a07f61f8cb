"""Debian's libfaketime for a test's child process: its wall clock off by an offset.

The variables Debian's `faketime -f OFFSET` wrapper gives its program, set directly: the
wrapper itself makes a named semaphore per process id (`sem_open`), which fails with "File
exists" when an earlier wrapper of the same pid was killed before removing it (seen once in a
fresh clone's run). An offset needs none of the wrapper's shared memory.
"""

from __future__ import annotations

import glob

import pytest

# Debian's faketime package (python3 dev.py system installs it); one per architecture.
LIBRARY = "/usr/lib/*/faketime/libfaketime{}.so.1"


def faketime_env(offset: str, *, threads: bool = False, monotonic: bool = True) -> dict[str, str]:
    """LD_PRELOAD and FAKETIME for a wall clock `offset` off ("+20s", "-1h").

    `threads` picks the library for multithreaded programs (the wrapper's `-m`); without
    `monotonic` the monotonic clock stays right (`--exclude-monotonic`), as on a host whose
    clock is wrong.
    """
    found = sorted(glob.glob(LIBRARY.format("MT" if threads else "")))
    if not found:
        pytest.fail(
            "libfaketime is missing: the clock tests run processes under Debian's faketime. "
            "Run `python3 dev.py system` to install it."
        )
    env = {"LD_PRELOAD": found[0], "FAKETIME": offset}
    if not monotonic:
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    return env
