"""``python -m api.cli``: the same as the ``bandit-router`` command."""

import sys

from api.cli.main import main

sys.exit(main())
