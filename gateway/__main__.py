"""`python -m gateway [--host H] [--port P] [--insecure-no-auth]`: the same as `fbq gateway`."""

import argparse

from feedback_queue.settings import load
from gateway.server import add_arguments, apply_arguments, run

parser = argparse.ArgumentParser(prog="python -m gateway", description=run.__doc__)
add_arguments(parser)
args = parser.parse_args()
run(apply_arguments(load("fbq gateway"), args), insecure_no_auth=args.insecure_no_auth)
