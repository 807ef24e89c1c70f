"""``creditstream``: the command line for operators, platforms, banks and regulators.

Errors a user can cause print one line on stderr (``creditstream: error: …``) and exit
1; usage mistakes exit 2 with argparse's usage line. No tracebacks for expected errors.
Each subcommand lives in its own module under ``streams.commands``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from streams.config import Settings, get_settings
from streams.errors import CreditstreamError

Handler = Callable[[argparse.Namespace, Settings], int]

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "streams.commands.demo",
    "streams.commands.broker",
    "streams.commands.worker",
    "streams.commands.publish",
    "streams.commands.simulate",
    "streams.commands.rejects",
    "streams.commands.platforms",
    "streams.commands.audit",
    "streams.commands.billing",
    "streams.commands.feed",
    "streams.commands.admin",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="creditstream",
        description="A consented, audited credit-data exchange on Apache Kafka.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``creditstream`` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, get_settings())
    except CreditstreamError as exc:
        print(f"creditstream: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
