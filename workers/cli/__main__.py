import sys

from workers.cli.command import main

sys.exit(main())
