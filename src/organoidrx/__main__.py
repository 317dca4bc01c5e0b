"""``python -m organoidrx`` (and the ``organoidrx`` command) runs the command-line interface.

The interface's modules take about a second to import; an interrupt (Ctrl-C) during that second ends the command
with the same one line and status as an interrupt later, not a traceback.
"""

from __future__ import annotations

import sys


def run() -> int:
    """Import the command-line interface and run it; the ``organoidrx`` entry point."""
    try:
        from organoidrx.cli import main
    except KeyboardInterrupt:
        print("organoidrx: interrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
