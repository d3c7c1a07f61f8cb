"""`fbq up`: the whole stack on one machine (supervisor, embedded Redis, demo and samples).

A layer above the services and the core: nothing below imports it. This module stays light
(the parser of `fbq` reads `Options` for its defaults); the stack is in stack.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    """What `fbq up` was asked for on its command line."""

    data_dir: str = ".fbq"
    workers: int = 1
    memory: bool = False
    demo: bool = False
    host: str = "127.0.0.1"
