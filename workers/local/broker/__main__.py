"""``python -m workers.local.broker start|stop|status`` (the same commands as ``newswire broker``)."""

import sys

from .cli import main

sys.exit(main())
