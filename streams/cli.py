"""``creditstream``: the command line for operators, platforms, banks and regulators.

Errors a user can cause print one line on stderr (``creditstream: error: …``) and exit
1; usage mistakes exit 2 with argparse's usage line. No tracebacks for expected errors:
besides creditstream's own errors, ``main`` turns the errors a user can provoke from
outside (a file that cannot be read, a Kafka that does not answer) into that one line;
anything else is a bug and keeps its traceback. The Kafka clients' own log lines go to
the ``streams.kafka`` logger, which the CLI shows only with ``--verbose`` (the worker
leaves them to librdkafka, on its stderr; see ``Settings.client_log_to_python``). Each
subcommand lives in its own module under ``streams.commands``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from confluent_kafka import KafkaException
from pydantic import ValidationError

from streams.commands.common import bootstrap_problem, bootstrap_servers
from streams.errors import BrokerError, ConfigError, CreditstreamError
from streams.runtime.topicread import kafka_reason
from streams.settings import CLIENT_LOGGER, Settings, get_settings

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
    "streams.commands.report",
    "streams.commands.dispute",
    "streams.commands.erase",
    "streams.commands.billing",
    "streams.commands.feed",
    "streams.commands.admin",
    "streams.commands.topology",
    "streams.commands.schemas",
)

#: Commands that set up logging themselves (the worker logs through Faust).
OWN_LOGGING = frozenset({"worker"})


def package_version() -> str:
    try:
        return version("creditstream")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def settings_epilog() -> str:
    names = ", ".join(f"CREDITSTREAM_{name.upper()}" for name in Settings.model_fields)
    listed = textwrap.fill(names, width=78, initial_indent="  ", subsequent_indent="  ")
    return (
        "settings: every setting can come from an environment variable CREDITSTREAM_<NAME>\n"
        "(all of them, with defaults and meaning, are in streams/settings.py); --bootstrap\n"
        "overrides CREDITSTREAM_BOOTSTRAP. The variables:\n"
        f"{listed}\n\n"
        "exit status: 0 success, 1 error (one line on stderr), 2 usage error"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="creditstream",
        description="A consented, audited credit-data exchange on Apache Kafka.",
        epilog=settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"creditstream {package_version()}")
    parser.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        type=bootstrap_servers,
        help="Kafka bootstrap servers, comma-separated (default: CREDITSTREAM_BOOTSTRAP "
        "or 127.0.0.1:9092)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show the Kafka client's own log lines on stderr",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


class _ShowClientLog(logging.Handler):
    """``--verbose``: the Kafka client's lines on stderr, marked as such."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"creditstream: kafka: {record.getMessage()}\n")
        except Exception:  # logging must never raise into the client's callback
            self.handleError(record)


class _HideClientLog(logging.NullHandler):
    """The default: the client's lines go nowhere (its errors arrive as exceptions)."""


def route_client_log(command: str, verbose: bool) -> None:
    """Hide the Kafka client's log lines (shown with ``verbose``), except for commands
    that log on their own. Idempotent (``main`` may run several times in a process)."""
    if command in OWN_LOGGING:
        return
    client = logging.getLogger(CLIENT_LOGGER)
    for old in [h for h in client.handlers if isinstance(h, _ShowClientLog | _HideClientLog)]:
        client.removeHandler(old)
    client.addHandler(_ShowClientLog() if verbose else _HideClientLog())
    client.setLevel(logging.DEBUG if verbose else logging.NOTSET)
    client.propagate = False


def effective_settings(args: argparse.Namespace) -> Settings:
    """The environment's settings, ``--bootstrap`` applied; ConfigError in one line."""
    try:
        settings = get_settings()
    except ConfigError as exc:
        if isinstance(exc.__cause__, ValidationError):
            raise ConfigError(_settings_problem(exc.__cause__)) from exc
        raise
    if args.command not in OWN_LOGGING:  # see route_client_log
        settings = settings.model_copy(update={"client_log_to_python": True})
    if args.bootstrap:
        return settings.model_copy(update={"bootstrap": args.bootstrap})
    problem = bootstrap_problem(settings.bootstrap)
    if problem is not None:
        raise ConfigError(f"CREDITSTREAM_BOOTSTRAP: {problem}")
    return settings


def _settings_problem(exc: ValidationError) -> str:
    """``CREDITSTREAM_PARTITIONS: Input should be a valid integer; …`` (no values)."""
    parts = []
    for err in exc.errors():
        name = "_".join(str(p) for p in err["loc"]).upper()
        parts.append(f"CREDITSTREAM_{name}: {err['msg']}" if name else str(err["msg"]))
    return "invalid setting " + "; ".join(parts)


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or "failed"


def _os_error(exc: OSError, settings: Settings | None) -> str:
    if isinstance(exc, TimeoutError) and not exc.strerror:
        where = f" (is Kafka at {settings.bootstrap} reachable?)" if settings else ""
        return f"timed out{where}"
    what = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {what}" if exc.filename else what


def _fail(text: str) -> int:
    print(f"creditstream: error: {_one_line(text)}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``creditstream`` console script."""
    try:  # building the parser reads the schemas (enum choices): an install may lack them
        parser = build_parser()
    except CreditstreamError as exc:
        return _fail(str(exc))
    args = parser.parse_args(argv)
    route_client_log(args.command, args.verbose)
    handler: Handler = args.handler
    settings: Settings | None = None
    try:
        settings = effective_settings(args)
        return handler(args, settings)
    except CreditstreamError as exc:
        return _fail(str(exc))
    except KafkaException as exc:  # a client call no command wrapped: still one line
        where = f" at {settings.bootstrap}" if settings else ""
        return _fail(str(BrokerError(f"Kafka{where}: {kafka_reason(exc)}")))
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a file that is missing, a directory, no permission, …
        return _fail(_os_error(exc, settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
