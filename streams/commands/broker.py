"""``creditstream broker``: install, start, stop, wipe the local Kafka broker (KRaft)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from streams.commands.common import port_number
from streams.localkafka import BrokerInfo, BrokerSpec, kill, start, status, stop, wipe
from streams.localkafka.datadir import MARKER
from streams.localkafka.install import install
from streams.localkafka.process import STOP_TIMEOUT_S, admin_command_config
from streams.localkafka.tls import CA_FILE, TLS_DIR
from streams.localkafka.transactions import abort_hanging, find_hanging
from streams.settings import Settings

#: Each action and what it does, one line each (``broker --help`` lists them).
ACTIONS = {
    "install": "download the Kafka jars of --kafka-version from Maven Central into the cache",
    "start": "configure, format (first time), start in the background, wait until it answers",
    "status": "show the broker running from --data-dir (exit 3 when none is)",
    "stop": f"stop it cleanly (SIGTERM, SIGKILL after {STOP_TIMEOUT_S:.0f}s); its data stays",
    "kill": "SIGKILL it, as a crash would (for chaos tests); its data stays",
    "wipe": "delete --data-dir: only a stopped broker's data dir made by creditstream",
    "hanging": "list hanging transactions (open over a minute, ended for their coordinator)",
    "abort-hanging": "abort each hanging transaction (Kafka's find-hanging, then abort)",
}
_EPILOG = f"""actions:
{chr(10).join(f"  {name:<14} {what}" for name, what in ACTIONS.items())}

wipe deletes a data dir only when `start` made it: it holds a {MARKER} file,
or (made before that file existed) the config/server.properties `start` wrote, naming
its own logs/ (such a dir gets the file on its next start). Anything else is refused
and left intact: delete it by hand if you are sure. A missing or empty dir is "nothing
to wipe" (exit 0); a running broker's dir is refused (stop it first). `start` likewise
refuses a non-empty --data-dir that is not a broker data dir.

A hanging transaction stops a partition's readers for good (its last stable offset
stays put) and, when it holds consumer offsets, the stage that owns them: librdkafka
lacks KIP-890's defence against a request applied after its transaction ended, which a
broker crash can provoke. `hanging` and `abort-hanging` run Kafka's own transactions
command (installed with the jars) against the running broker (the secure one as its
admin, from a client properties file in its data dir).
"""


def _spec(args: argparse.Namespace, settings: Settings) -> BrokerSpec:
    return BrokerSpec(
        data_dir=Path(args.data_dir or settings.broker_data_dir).resolve(),
        cache_dir=settings.cache_dir,
        version=args.kafka_version or settings.kafka_version,
        port=args.port or settings.broker_port,
        controller_port=args.controller_port,
        mode="secure" if args.secure else "plain",
    )


def _show(info: BrokerInfo, as_json: bool, verb: str) -> None:
    if as_json:
        print(json.dumps(info.__dict__))
        return
    took = f" in {info.started_in_s:.1f}s" if info.started_in_s else ""
    print(
        f"kafka {info.version} {verb}{took}: bootstrap {info.bootstrap} "
        f"(mode {info.mode}, pid {info.pid}, data {info.data_dir})"
    )
    if info.mode == "secure":
        data = Path(info.data_dir)
        print(
            f"clients: CREDITSTREAM_SECURITY_PROTOCOL=SASL_SSL "
            f"CREDITSTREAM_SSL_CA_FILE={data / TLS_DIR / CA_FILE}; "
            f"admin's password in {data / 'admin.secret'}"
        )


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    spec = _spec(args, settings)
    action: str = args.action
    if action == "install":
        libs = install(spec.cache_dir, spec.version)
        print(f"kafka {spec.version} jars in {libs}")
    elif action == "start":
        _show(start(spec), args.json, "running")
    elif action == "status":
        info = status(spec)
        if info is None:
            print(f"no broker running from {spec.data_dir}", file=sys.stderr)
            return 3
        _show(info, args.json, "running")
    elif action == "stop":
        print("broker stopped" if stop(spec) else f"no broker running from {spec.data_dir}")
    elif action == "kill":
        print("broker killed" if kill(spec) else f"no broker running from {spec.data_dir}")
    elif action == "wipe":
        print(f"wiped {spec.data_dir}" if wipe(spec) else f"nothing to wipe at {spec.data_dir}")
    elif action in ("hanging", "abort-hanging"):
        return _hanging(spec, abort=action == "abort-hanging")
    return 0


def _hanging(spec: BrokerSpec, abort: bool) -> int:
    info = status(spec)
    if info is None:
        print(f"no broker running from {spec.data_dir}", file=sys.stderr)
        return 3
    running = replace(spec, mode="secure" if info.mode == "secure" else "plain")
    config = admin_command_config(running) if running.mode == "secure" else None
    libs = install(spec.cache_dir, spec.version)
    found = find_hanging(libs, info.bootstrap, command_config=config)
    for hanging in found:
        said = "hanging"
        if abort:
            ended = abort_hanging(libs, info.bootstrap, hanging, command_config=config)
            said = "aborted" if ended else "ended by itself"
        print(f"{said}: {hanging}")
    if not found:
        print("no hanging transaction")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    broker = sub.add_parser(
        "broker",
        help="install, start, stop, wipe the local Kafka broker (KRaft)",
        description="Manage the local single-node Kafka broker (KRaft) of one data dir.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    broker.add_argument(
        "action", choices=list(ACTIONS), metavar="ACTION", help=f"one of: {', '.join(ACTIONS)}"
    )
    broker.add_argument("--port", type=port_number, help="client port (default 9092)")
    broker.add_argument(
        "--controller-port", type=port_number, help="controller port (default port+1)"
    )
    broker.add_argument("--data-dir", help="broker data directory (default .creditstream/broker)")
    broker.add_argument("--kafka-version", help="Apache Kafka version to run")
    broker.add_argument("--secure", action="store_true", help="TLS + SASL/SCRAM + ACLs mode")
    broker.add_argument("--json", action="store_true", help="machine-readable output")
    broker.set_defaults(handler=cmd_broker)
