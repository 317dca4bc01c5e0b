"""Command-line interface: parse arguments, call the library, print. No science lives here.

Every subcommand is registered by a ``_add_<name>`` function below and runs through ``_cmd_<name>``. Errors in the
user's input end as one line on stderr and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from organoidrx import __version__
from organoidrx._utils import InputError

__all__ = ["main"]

logger = logging.getLogger("organoidrx")

Handler = Callable[[argparse.Namespace], int]


# --------------------------------------------------------------------------------------------------- demo
def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the pipeline on the bundled synthetic cohort (no files, no network)")
    p.add_argument("--out", default=None, help="output folder (default: ./organoidrx-demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the synthetic cohort (default 0)")
    p.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from organoidrx.datasets import make_synthetic_cohort

    cohort = make_synthetic_cohort(random_state=args.seed)
    print(cohort.summary())
    out = Path(args.out) if args.out is not None else Path("organoidrx-demo")
    paths = cohort.write(out / "cohort")
    print(f"Cohort files: {paths['config'].parent} (run configuration: {paths['config']})")
    return 0


# --------------------------------------------------------------------------------------------------- main
_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``organoidrx`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="organoidrx",
        description=(
            "Predict patient drug response from patient-derived organoids: network proximity of pathways to drug "
            "targets, ssGSEA pathway scores, models trained on organoids, survival evaluation in patients."
        ),
    )
    parser.add_argument("--version", action="version", version=f"organoidrx {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logging")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors; no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _REGISTRARS:
        register(sub)
    return parser


def _configure_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("organoidrx: %(levelname)s: %(message)s" if debug else "%(message)s")
    )
    root = logging.getLogger("organoidrx")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``organoidrx`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _configure_logging(args.debug, args.quiet)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("organoidrx: interrupted", file=sys.stderr)
        return 130
    except (InputError, ValueError, OSError, KeyError) as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
            message = f"{exc.filename}: {message}"
        print(f"organoidrx: error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"organoidrx: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(rerun with --debug for the traceback and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
