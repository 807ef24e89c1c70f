"""``creditstream report``: what the exchange holds on a person, for that person.

``report --national-id X|- [--html FILE] [--json]`` pseudonymizes X with the configured
key (the ID itself is never printed, logged or stored), reads what the exchange has
committed about that borrower (``streams.worker.report``: the profile a bank would
receive now and the loan and activity records behind each figure, the banks holding
consent, every delivery of the data in the last 12 months with the audit chain
verified) and prints it, or writes it as one self-contained HTML page. Each report is
recorded (``exchange.reports``, no ID) and numbered in its year: two a year are free.
Exit 1 when the audit chain holding the person's deliveries does not verify.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from streams.commands.common import national_id, seconds
from streams.domain.privacy import (
    is_valid_national_id,
    normalize_national_id,
    pseudonymizer_from_settings,
)
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.domain.report import to_html, to_text
from streams.errors import ConfigError
from streams.settings import Settings
from streams.worker.report import person_report


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    national = normalize_national_id(national_id(args.national_id))
    if not is_valid_national_id(national):
        raise ConfigError("--national-id is not 4-32 letters/digits once normalized")
    pseudo = pseudonymizer_from_settings(
        settings.hmac_key, settings.hmac_key_file, settings.hmac_key_version
    )
    channel = "cli-html" if args.html else "cli-json" if args.json else "cli"
    report = person_report(
        settings, pseudo, national, DEFAULT_CONFIG, channel=channel, timeout=args.timeout
    )
    if args.html:
        path: Path = args.html
        try:
            path.write_text(to_html(report), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
        print(f"wrote {path} (report {report.reports_this_year} this year)")
    elif args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(to_text(report), end="")
    return 0 if report.chain_ok else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "report",
        help="a person's own report: their profile, the records behind it, who received it",
        description=(
            "What the exchange holds on one person: the profile a bank would receive now, "
            "each loan and activity record behind it, the banks holding consent and every "
            "delivery of the data in the last 12 months (audit chain verified). The ID is "
            "pseudonymized with the configured key and never printed or stored; each "
            "report is recorded and numbered in its year (two a year are free)."
        ),
    )
    parser.add_argument(
        "--national-id",
        required=True,
        help="the person's national ID, or '-' to read it from stdin "
        "(keeps it out of shell history and the process list)",
    )
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--html", type=Path, metavar="FILE", help="write one HTML page to FILE")
    form.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=30.0,
        help="give up after N s without progress (default 30)",
    )
    parser.set_defaults(handler=cmd_report)
