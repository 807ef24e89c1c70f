"""``creditstream worker``: run one exchange worker process."""

from __future__ import annotations

import argparse
import re

from streams.errors import ConfigError
from streams.settings import STAGES, STAGES_PATTERN, Settings


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.worker.lifecycle import run_worker  # Faust is slow to import; only when needed

    if args.stages is not None:
        if not re.fullmatch(STAGES_PATTERN, args.stages):
            raise ConfigError(f"--stages {args.stages!r}: give names of {', '.join(STAGES)}")
        settings = settings.model_copy(update={"stages": args.stages})
    return run_worker(settings, loglevel=args.loglevel)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="run an exchange worker (Faust) against the broker")
    worker.add_argument(
        "--loglevel",
        default="info",
        choices=["debug", "info", "warning"],
        help="least severe log lines shown, the Kafka clients' included (default info)",
    )
    worker.add_argument(
        "--stages",
        metavar="NAMES",
        help=f"comma-separated stages to run, of {', '.join(STAGES)} (default: all, or "
        "CREDITSTREAM_STAGES); e.g. --stages ingress,consents in one process and "
        "--stages borrower in another (give each its own CREDITSTREAM_WEB_PORT)",
    )
    worker.set_defaults(handler=cmd_worker)
