"""`python -m feedback_queue.cli`: the same as `fbq`."""

import sys

from feedback_queue.cli.main import main

sys.exit(main())
