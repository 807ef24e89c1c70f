"""``creditstream dispute``: a borrower's objection against a platform's record.

``dispute open --national-id X|- --platform P --loan-id L --reason TEXT`` files it for
the borrower (``streams.sdk.rights``: the ID is pseudonymized, never written) and
prints the dispute id and the platform's deadline; the borrower stage then marks the
loan in what every consented bank receives and tells the platform on
``platforms.<P>.disputes``. ``dispute status --national-id X|-`` lists the person's
objections and their outcome (OPEN, CORRECTED, CONFIRMED, NOT_VERIFIED, REFUSED), as
the borrower stage committed them (``streams.worker.disputes``).
"""

from __future__ import annotations

import argparse
import json

from streams.clock import DAY_MS, iso_ms, now_ms
from streams.commands.common import national_id, seconds
from streams.domain.privacy import (
    Pseudonymizer,
    is_valid_national_id,
    normalize_national_id,
    pseudonymizer_from_settings,
)
from streams.errors import ConfigError
from streams.sdk.rights import file_dispute
from streams.settings import Settings
from streams.worker.disputes import dispute_status


def person(args: argparse.Namespace, settings: Settings) -> tuple[Pseudonymizer, str]:
    """The pseudonymizer and the normalized national ID ``--national-id`` names."""
    national = normalize_national_id(national_id(args.national_id))
    if not is_valid_national_id(national):
        raise ConfigError("--national-id is not 4-32 letters/digits once normalized")
    pseudo = pseudonymizer_from_settings(
        settings.hmac_key, settings.hmac_key_file, settings.hmac_key_version
    )
    return pseudo, national


def cmd_open(args: argparse.Namespace, settings: Settings) -> int:
    pseudo, national = person(args, settings)
    did = file_dispute(
        settings, pseudo, national, args.platform, args.loan_id, args.reason, args.requested_by,
        timeout=args.timeout,
    )  # fmt: skip
    due = iso_ms(now_ms() + int(settings.dispute_deadline_days * DAY_MS))
    print(
        f"dispute {did} filed against {args.platform} loan {args.loan_id}: the platform must "
        f"answer by about {due}; `creditstream dispute status` shows the outcome"
    )
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    pseudo, national = person(args, settings)
    found = dispute_status(settings, pseudo, national, timeout=args.timeout)
    if args.json:
        print(json.dumps(list(found), indent=2))
        return 0
    if not found:
        print("no objections on record")
    for d in found:
        line = f"{d['dispute_id']}  {d['status']:<12} {d['platform']} loan {d['loan_id']}"
        line += f"  opened {d['opened']}"
        line += f"  answer due {d['deadline']}" if d["status"] == "OPEN" else f"  {d['note']}"
        print(line)
    return 0


def who(parser: argparse.ArgumentParser) -> None:
    """``--national-id`` and ``--timeout``, as every borrower-request command takes them."""
    parser.add_argument(
        "--national-id",
        required=True,
        help="the person's national ID, or '-' to read it from stdin "
        "(keeps it out of shell history and the process list)",
    )
    parser.add_argument(
        "--timeout", type=seconds, default=30.0, help="give up after N s (default 30)"
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "dispute",
        help="a borrower's objection against a platform's record: open it, see its outcome",
        description=(
            "Objections (征信业管理条例 art. 25, FCRA §1681i). The disputed loan is marked "
            "in what every bank holding consent receives; the platform answers with a "
            "CORRECTION of the loan (changed facts: corrected; the same facts: confirmed) "
            "before the deadline, or the loan leaves the profile. Banks whose consent "
            "ended after receiving the data get a correction notice."
        ),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    opening = actions.add_parser("open", help="file an objection for a borrower")
    who(opening)
    opening.add_argument("--platform", required=True, help="the platform whose record is wrong")
    opening.add_argument("--loan-id", required=True, help="the platform's id of the loan")
    opening.add_argument(
        "--reason",
        required=True,
        help="what is wrong, in the borrower's words (the platform reads it)",
    )
    opening.add_argument(
        "--requested-by",
        default="operator",
        help="who files it for the borrower: operator (default), bank:<name>, regulator",
    )
    opening.set_defaults(handler=cmd_open)
    status = actions.add_parser("status", help="a borrower's objections and their outcome")
    who(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=cmd_status)
