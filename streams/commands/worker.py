"""``creditstream worker``: run one exchange worker process."""

from __future__ import annotations

import argparse

from streams.settings import Settings


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.worker.lifecycle import run_worker  # Faust is slow to import; only when needed

    return run_worker(settings, loglevel=args.loglevel)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="run an exchange worker (Faust) against the broker")
    worker.add_argument(
        "--loglevel",
        default="info",
        choices=["debug", "info", "warning"],
        help="least severe log lines shown, the Kafka clients' included (default info)",
    )
    worker.set_defaults(handler=cmd_worker)
