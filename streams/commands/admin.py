"""``creditstream admin``: provision tenants' and the exchange's topics, users and ACLs.

``provision-platform P``, ``provision-bank B`` and ``provision-exchange`` create (each
idempotently) the topics and, on the secure broker, the SCRAM-SHA-512 user and its ACLs
(``streams.domain.acl``) through ``streams.ops.admin``. On the plain broker (PLAINTEXT: no users,
no ACLs) they create the topics only, so the same commands set up either broker.
``acls [--principal X]`` lists the bindings on the broker. On the secure broker they run
with a super user's credentials from the settings (``CREDITSTREAM_SECURITY_PROTOCOL=
SASL_SSL`` with ``CREDITSTREAM_SSL_CA_FILE``, ``CREDITSTREAM_SASL_USERNAME=admin``,
``CREDITSTREAM_SASL_PASSWORD_FILE``).

Passwords are never printed. A new user's password comes from ``--password-file`` or is
generated into ``<secrets-dir>/<user>.password`` (mode 0600, reused if it is already
there), whose path is printed for hand-over. An existing user keeps its password unless
``--password-file`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from dataclasses import asdict
from pathlib import Path

from streams.domain import acl
from streams.errors import ConfigError
from streams.ops import admin
from streams.runtime import provision
from streams.settings import KafkaConf, Settings

DEFAULT_SECRETS_DIR = Path(".creditstream/secrets")


def admin_conf(settings: Settings) -> KafkaConf:
    if settings.security_protocol == "PLAINTEXT":
        raise ConfigError(
            "admin commands need the secure broker: set CREDITSTREAM_SECURITY_PROTOCOL="
            "SASL_SSL, CREDITSTREAM_SSL_CA_FILE, CREDITSTREAM_SASL_USERNAME=admin and "
            "CREDITSTREAM_SASL_PASSWORD_FILE (or CREDITSTREAM_SASL_PASSWORD)"
        )
    return settings.kafka_client_config()


def read_password_file(path: Path) -> str:
    try:
        password = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read password file {path}: {exc.strerror}") from exc
    if not password:
        raise ConfigError(f"password file {path} is empty")
    return password


def generated_password(secrets_dir: Path, user: str) -> tuple[str, Path]:
    """The password in ``<secrets_dir>/<user>.password``, created (0600) if missing."""
    path = secrets_dir / f"{user}.password"
    if path.exists():
        return read_password_file(path), path
    secrets_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    # O_EXCL + mode at creation: the file is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(password + "\n")
    return password, path


def choose_password(
    conf: KafkaConf, user: str, password_file: Path | None, secrets_dir: Path
) -> tuple[str | None, str]:
    """(password to set, or None to keep the existing one; where it is, for the report)."""
    if password_file is not None:
        return read_password_file(password_file), f"set from {password_file}"
    if admin.user_exists(conf, user):
        return None, "unchanged"
    password, path = generated_password(secrets_dir, user)
    return password, f"in {path} (mode 0600): hand it over securely"


def _report(result: admin.Provisioned, password: str) -> None:
    state = "created" if result.user_created else "exists"
    print(f"user {result.user}: {state}, password {password}")
    print(
        f"topics created: {', '.join(result.topics_created) if result.topics_created else 'none'}"
    )
    print(f"ACL bindings: {len(result.acls)} ({len(result.acls_created)} new)")
    for entry in result.acls_created:
        print(f"  + {format_acl(entry)}")


def format_acl(entry: acl.Acl) -> str:
    return (
        f"{entry.principal}  {entry.permission} {entry.operation} on "
        f"{entry.resource_type} {entry.resource_name} ({entry.pattern_type.lower()})"
    )


def _check_name(kind: str, user: str, app_id: str) -> None:
    """Refuse a bad name before touching anything (the ACL model knows the rules)."""
    try:
        if kind == "platform":
            acl.platform_acls(user)
        elif kind == "bank":
            acl.bank_acls(user)
        else:
            acl.exchange_acls(user, app_id)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _topics_only(kind: str, name: str, partitions: int, settings: Settings) -> list[str]:
    """The plain broker has no users or ACLs: provisioning there creates the topics."""
    conf = settings.kafka_client_config()
    if kind == "platform":
        return provision.ensure_platform(conf, name, partitions)
    if kind == "bank":
        return provision.ensure_bank(conf, name, partitions)
    return provision.ensure(conf, provision.exchange_topics(partitions))


def cmd_provision(args: argparse.Namespace, settings: Settings) -> int:
    partitions = args.partitions or settings.partitions
    app_id = args.app_id or settings.app_id
    user = args.name if args.kind != "exchange" else args.user
    _check_name(args.kind, user, app_id)
    if settings.security_protocol == "PLAINTEXT":
        if args.password_file is not None:
            raise ConfigError("--password-file needs the secure broker (SASL): no users here")
        created = _topics_only(args.kind, user, partitions, settings)
        print(f"{args.kind} {user}: plain broker (no SASL), so topics only: no user, no ACLs")
        print(f"topics created: {', '.join(created) if created else 'none (all exist)'}")
        return 0
    conf = admin_conf(settings)
    admin.require_admin(conf)
    password, where = choose_password(conf, user, args.password_file, args.secrets_dir)
    if args.kind == "platform":
        result = admin.provision_platform(conf, user, partitions, password, args.exchange_user)
    elif args.kind == "bank":
        result = admin.provision_bank(conf, user, partitions, password, args.exchange_user)
    else:
        result = admin.provision_exchange(conf, partitions, password, user=user, app_id=app_id)
    _report(result, where)
    return 0


def cmd_acls(args: argparse.Namespace, settings: Settings) -> int:
    principal = args.principal
    if principal and not principal.startswith("User:"):
        principal = acl.principal(principal)
    conf = admin_conf(settings)
    admin.require_admin(conf)  # else the broker answers an empty list, not an error
    found = admin.list_acls(conf, principal)
    if args.json:
        for entry in found:
            print(json.dumps(asdict(entry)))
        return 0
    for entry in found:
        print(format_acl(entry))
    print(f"{len(found)} ACL binding(s)")
    return 0


def _provision_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, kind: str, help_: str
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_, description=help_)
    parser.add_argument("--password-file", type=Path, help="set the password from this file")
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        default=DEFAULT_SECRETS_DIR,
        help="where a generated password file goes (default .creditstream/secrets)",
    )
    parser.add_argument("--partitions", type=int, help="partitions of new topics")
    parser.set_defaults(handler=cmd_provision, kind=kind, app_id=None)
    return parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "admin",
        help="provision platforms, banks and the exchange (topics; users and ACLs if secure)",
        description=(
            "Creates (idempotently) a platform's, bank's or the exchange's topics and, on the "
            "secure broker, its SCRAM user and ACLs; or lists ACLs. On the secure broker it "
            "needs a super user's credentials in CREDITSTREAM_SASL_*; on the plain broker it "
            "creates the topics only. Passwords are never printed: they go to a 0600 file "
            "whose path is printed."
        ),
    )
    actions = parser.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    platform = _provision_parser(
        actions,
        "provision-platform",
        "platform",
        "user, ingest topics and ACLs of a platform (writes ingest.P.loans/activity, "
        "reads ingest.P.rejected)",
    )
    platform.add_argument("name", help="platform name (a-z, 0-9, '-')")
    platform.add_argument(
        "--exchange-user",
        default=acl.EXCHANGE_USER,
        help="the exchange's SASL user, granted WRITE on ingest.P.rejected (default %(default)s)",
    )
    bank = _provision_parser(
        actions,
        "provision-bank",
        "bank",
        "user, topics and ACLs of a bank (writes banks.B.subscriptions, reads banks.B.feed)",
    )
    bank.add_argument("name", help="bank name (a-z, 0-9, '-')")
    bank.add_argument(
        "--exchange-user",
        default=acl.EXCHANGE_USER,
        help="the exchange's SASL user, granted WRITE on banks.B.feed (default %(default)s)",
    )
    exchange = _provision_parser(
        actions, "provision-exchange", "exchange", "user, topics and ACLs of the exchange worker"
    )
    exchange.add_argument("--user", default=acl.EXCHANGE_USER, help="the exchange's SASL user")
    exchange.add_argument("--app-id", help="the worker's app id (default: settings)")
    listing = actions.add_parser("acls", help="list ACL bindings on the broker")
    listing.add_argument("--principal", help="only this user (name or User:name)")
    listing.add_argument("--json", action="store_true", help="one JSON object per binding")
    listing.set_defaults(handler=cmd_acls)
