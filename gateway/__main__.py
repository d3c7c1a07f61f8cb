import sys

from feedback_queue.cli import main

sys.exit(main(["gateway", *sys.argv[1:]]))
