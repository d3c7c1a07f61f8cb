"""`python -m ingest_service`: the same as `fbq ingest`."""

from feedback_queue.settings import load
from ingest_service.server import run

run(load("fbq ingest"))
