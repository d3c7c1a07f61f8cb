"""`python -m worker_service [--burst]`: the same as `fbq worker`."""

import argparse

from feedback_queue.settings import load
from worker_service.server import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m worker_service", description=run.__doc__)
add_arguments(parser)
args = parser.parse_args()
run(load("fbq worker"), burst=args.burst)
