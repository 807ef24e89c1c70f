"""``creditstream erase``: remove what the exchange holds on a person that no retention
rule keeps (PIPL art. 47).

``erase --national-id X|-`` files the request (``streams.sdk.rights``; the ID is
pseudonymized, never written). The borrower stage then removes the person's activity
data, and their credit data as the ``erasure_credit`` setting allows (by default the
loans holding negative information stay for their five-year retention); the banks
holding consent receive the profile without what went, or ``ERASED``; a person left
with nothing and no consent leaves no state and no profile behind. The erasure is
recorded on ``exchange.rights-log`` without the data; ``creditstream report`` shows
what is left.
"""

from __future__ import annotations

import argparse

from streams.commands.dispute import person, who
from streams.sdk.rights import file_erasure
from streams.settings import Settings


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    pseudo, national = person(args, settings)
    rid = file_erasure(settings, pseudo, national, args.requested_by, timeout=args.timeout)
    print(
        f"erasure {rid} requested: activity data goes, credit data as rule "
        f"{settings.erasure_credit} allows; banks holding consent are told. "
        "`creditstream report` shows what is left."
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "erase",
        help="erase what the exchange holds on a person that no retention rule keeps",
        description=(
            "Erasure (PIPL art. 47): activity data always goes; credit data as the "
            "erasure_credit setting allows (keep-negative: loans with negative "
            "information stay for their 5-year retention; keep-credit; erase-all). Banks "
            "holding consent receive the profile without it, or ERASED. What remains "
            "elsewhere is listed in the README (Rights)."
        ),
    )
    who(parser)
    parser.add_argument(
        "--requested-by",
        default="operator",
        help="who files it for the person: operator (default), regulator, ...",
    )
    parser.set_defaults(handler=cmd_erase)
