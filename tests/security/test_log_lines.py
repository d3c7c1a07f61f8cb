"""One record, one line: the log formatter escapes what a caller can put in a message or an
exception, and audit values cannot add a field (#21 finding 9, at the unit level; the real
processes are in test_forged_log_lines.py)."""

from __future__ import annotations

import logging
import sys

from feedback_queue import audit
from feedback_queue.logs import MaskingFormatter


def test_the_log_formatter_keeps_every_record_on_its_own_lines() -> None:
    formatter = MaskingFormatter("%(levelname)s %(message)s", [])
    hostile = "id\r\nINFO forged\x1b[2J\x85\u2028\u202eend\ttab"
    try:
        raise ValueError(f"bad {hostile}")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "got %s", (hostile,), None)
        record.exc_info = sys.exc_info()
    lines = formatter.format(record).split("\n")
    assert lines[0] == "ERROR got id\\r\\nINFO forged\\x1b[2J\\x85\\u2028\\u202eend\\ttab"
    assert lines[1] == "Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in lines[2:])  # no record starts there
    # The exception's own line break is kept, its next line indented: it cannot pose as a record.
    assert lines[-2:] == [
        "    ValueError: bad id\\r",
        "    INFO forged\\x1b[2J\\x85\\u2028\\u202eend\\ttab",
    ]
    assert "\x1b" not in "\n".join(lines)
    assert audit.value("x result=OK") == '"x result=OK"'  # an audit value cannot add a field
    assert audit.value("Qm1c3m9yZXNk") == "Qm1c3m9yZXNk"
