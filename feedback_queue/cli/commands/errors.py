"""The one error the client commands raise on purpose; `fbq` prints it as one line."""

from __future__ import annotations


class CliError(Exception):
    """Something the user can fix; the message says what (never a secret)."""
