import sys

from feedback_queue.cli import main

sys.exit(main(["ingest", *sys.argv[1:]]))
