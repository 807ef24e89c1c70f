"""``creditstream broker``: install, start, stop the local Kafka broker (KRaft)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streams.commands.common import port_number
from streams.config import Settings
from streams.localkafka import BrokerInfo, BrokerSpec, kill, start, status, stop, wipe
from streams.localkafka.install import install


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
        wipe(spec)
        print(f"wiped {spec.data_dir}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    broker = sub.add_parser("broker", help="install, start, stop the local Kafka broker (KRaft)")
    broker.add_argument("action", choices=["install", "start", "status", "stop", "kill", "wipe"])
    broker.add_argument("--port", type=port_number, help="client port (default 9092)")
    broker.add_argument(
        "--controller-port", type=port_number, help="controller port (default port+1)"
    )
    broker.add_argument("--data-dir", help="broker data directory (default .creditstream/broker)")
    broker.add_argument("--kafka-version", help="Apache Kafka version to run")
    broker.add_argument("--secure", action="store_true", help="SASL/SCRAM + ACLs mode")
    broker.add_argument("--json", action="store_true", help="machine-readable output")
    broker.set_defaults(handler=cmd_broker)
