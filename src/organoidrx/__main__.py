"""``python -m organoidrx`` runs the command-line interface."""

import sys

from organoidrx.cli import main

sys.exit(main())
