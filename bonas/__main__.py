"""``python -m bonas``: the ``bonas`` command (see :mod:`bonas.cli`)."""

import sys

from bonas.cli import main

sys.exit(main())
