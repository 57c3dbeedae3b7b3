"""The ``spchain workshop`` command group (``spchain workshop serve``)."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

__all__ = ["add_parser", "run_command"]


def _port(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {value}")
    return value


def _workers(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_parser(sub, formatter_class=argparse.RawDescriptionHelpFormatter):
    """Add ``workshop`` (with its ``serve`` subcommand) to an argparse subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The ``spchain`` command's subparsers.
    formatter_class : type
        Help formatter.

    Returns
    -------
    argparse.ArgumentParser
        The ``workshop`` parser.
    """
    workshop = sub.add_parser(
        "workshop", formatter_class=formatter_class, help="run a workshop for a room of teams",
        description=textwrap.fill("A multi-team workshop in the browser: teams join with a code, set their levers "
                                  "each quarter, the facilitator closes the rounds and runs the debrief "
                                  "(docs/workshop-facilitator.md).", 79))
    subcommands = workshop.add_subparsers(dest="workshop_command", required=True, metavar="SUBCOMMAND")
    serve = subcommands.add_parser(
        "serve", formatter_class=formatter_class, help="start the workshop server",
        description=textwrap.fill("Start the workshop server and print its addresses: the facilitator's (with its "
                                  "private token) and the one teams join at.  Every submission and round is "
                                  "stored in --db; restarting on the same file carries on where it stopped.  "
                                  "Needs spchain[workshop].", 79))
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind: 127.0.0.1 for this machine only (default), this laptop's address on "
                            "the room's network, or 0.0.0.0 for every interface")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (default: 8000)")
    serve.add_argument("--db", default="workshop.sqlite", metavar="FILE",
                       help="SQLite file of the workshop (default: workshop.sqlite; created if missing)")
    serve.add_argument("--workers", type=_workers, default=1, metavar="N",
                       help="processes that simulate a round (default: 1; 2 on a 2-core laptop)")
    return workshop


def run_command(args, stream) -> int:
    """Run a parsed ``spchain workshop ...`` command; returns the exit code."""
    from . import serve

    if args.workshop_command == "serve":
        folder = Path(args.db).resolve().parent
        if not folder.is_dir():
            raise OSError(f"--db {args.db!r}: folder {str(folder)!r} does not exist")
        serve(args.db, host=args.host, port=args.port, workers=args.workers, stream=stream)
        return 0
    raise ValueError(f"unknown workshop command {args.workshop_command!r}")  # argparse prevents it
