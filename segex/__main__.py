"""``python -m segex``: the command line (:mod:`segex.cli`)."""

import sys

from .cli import main

sys.exit(main())
