"""The `fbq` command line (a layer above the services and the core; see docs/development.md)."""

from feedback_queue.cli.main import main

__all__ = ["main"]
