"""``python -m shiba``: the ``shiba`` command."""

import sys

from shiba.cli.main import main

sys.exit(main())
