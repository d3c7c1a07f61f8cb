"""The `fbq` command line: the dispatch and the error boundary (the parser is parser.py)."""

from __future__ import annotations

import sys
import traceback

from feedback_queue.cli.commands.errors import CliError
from feedback_queue.cli.parser import Handler, build_parser
from feedback_queue.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Handler | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # The services report their own failures; the client commands never show a traceback
        # unless asked to.
        if not isinstance(exc, CliError | ConfigError) and not getattr(args, "client", False):
            raise
        return _report(exc, debug=args.debug)


def _report(exc: Exception, *, debug: bool) -> int:
    """The error boundary: one line that says what to fix; the traceback only with --debug."""
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, CliError | ConfigError):
        message = str(exc)
    else:
        message = f"unexpected {type(exc).__name__}: {exc} (--debug shows the traceback)"
    print(f"fbq: error: {message}", file=sys.stderr)
    return 1
