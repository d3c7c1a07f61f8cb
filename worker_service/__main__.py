import sys

from feedback_queue.cli import main

sys.exit(main(["worker", *sys.argv[1:]]))
