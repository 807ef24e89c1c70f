"""Bank SDK on a real broker: subscription requests on the wire, and a feed consumed in
version order per customer_ref, without duplicates, across restarts."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from streams import topics
from streams.commands import feed as feed_cmd
from streams.runtime import provision
from streams.runtime.registry import codec_for
from streams.sdk.producer import DeliveryReport
from streams.sdk.subscriber import BankSubscriber, FeedItem, SubscriberError
from streams.settings import KafkaConf, Settings
from streams.wire.schemas import FEED_RECORD, SUBSCRIPTION
from tests.integration.kafka_helpers import consume_all, unique

pytestmark = pytest.mark.integration
CODEC = codec_for(None)


@pytest.fixture
def bank(kafka_conf: KafkaConf) -> str:
    name = unique("bank")
    provision.ensure_bank(kafka_conf, name, partitions=2)
    return name


@pytest.fixture
def settings(bootstrap: str) -> Settings:
    return Settings(bootstrap=bootstrap, security_protocol="PLAINTEXT", client_log_level=0)


def record(ref: str, version: int, kind: str = "PROFILE_UPDATE", **extra: Any) -> dict[str, Any]:
    return {
        "customer_ref": ref,
        "profile_version": version,
        "kind": kind,
        "produced_at": 1_760_000_000_000 + version,
        "profile": json.dumps({"open_loans": version}) if kind != "NO_DATA_YET" else None,
        "alerts": [],
    } | extra


def write_feed(conf: KafkaConf, bank: str, records: list[dict[str, Any]]) -> None:
    """Play the exchange: FeedRecords keyed by customer_ref on the bank's feed."""
    producer = Producer(conf | {"partitioner": "murmur2_random", "enable.idempotence": True})
    for datum in records:
        producer.produce(
            topics.feed(bank),
            CODEC.encode(FEED_RECORD, datum),
            key=datum["customer_ref"].encode(),
        )
    assert producer.flush(30) == 0


def read(sub: BankSubscriber, **kw: Any) -> list[tuple[str, int, str]]:
    return [
        (i.customer_ref, i.profile_version, i.kind)
        for i in sub.feed(timeout=20, stop_at_end=True, **kw)
    ]


def test_subscribe_and_revoke_write_decodable_requests_keyed_by_customer_ref(
    kafka_conf: KafkaConf, settings: Settings, bank: str, tmp_path: Path
) -> None:
    reports: list[DeliveryReport] = []
    expires = datetime.now(UTC) + timedelta(days=90)
    with BankSubscriber(
        bank, settings, state_path=tmp_path / "l", on_delivery=reports.append
    ) as sub:
        sub.subscribe("850101-1234", "cust-1", "CONS-1", "CREDIT_APPLICATION", expires)
        sub.subscribe("900202-5678", "cust-2", "CONS-2", "ACCOUNT_REVIEW", expires)
        sub.revoke("cust-1", "850101-1234", "CONS-1")
        with pytest.raises(SubscriberError, match="purpose must be one of") as bad:
            sub.subscribe("850101-1234", "cust-3", "CONS-3", "MARKETING", expires)
        assert "850101" not in str(bad.value)
        with pytest.raises(SubscriberError, match="not in the future"):
            sub.subscribe("1", "cust-3", "CONS-3", "COLLECTIONS", datetime.now(UTC) - timedelta(1))
    assert [r.ok for r in reports] == [True, True, True]
    messages = consume_all(kafka_conf, topics.subscriptions(bank), expected=3)
    decoded = []
    for msg in messages:
        name, datum = CODEC.decode(msg.value() or b"")
        assert name == SUBSCRIPTION
        assert msg.key() == datum["customer_ref"].encode()
        decoded.append((datum["customer_ref"], datum["action"], datum["purpose"]))
    assert sorted(decoded) == [
        ("cust-1", "REVOKE", "CREDIT_APPLICATION"),
        ("cust-1", "SUBSCRIBE", "CREDIT_APPLICATION"),
        ("cust-2", "SUBSCRIBE", "ACCOUNT_REVIEW"),
    ]
    # Same key, so the same partition: the revoke follows the subscribe.
    cust1 = [CODEC.decode(m.value() or b"")[1]["action"] for m in messages if m.key() == b"cust-1"]
    assert cust1 == ["SUBSCRIBE", "REVOKE"]


def test_feed_dedups_and_orders_by_version_and_survives_a_restart(
    kafka_conf: KafkaConf, settings: Settings, bank: str, tmp_path: Path
) -> None:
    state = tmp_path / "ledger.sqlite"
    write_feed(
        kafka_conf,
        bank,
        [
            record("c1", 1, "SUBSCRIPTION_ACK"),
            record("c1", 2),
            record("c1", 4, "ALERT", alerts=[{"kind": "new_loan", "reason": "1 new loan"}]),
            record("c1", 3),  # older than 4: dropped
            record("c1", 4, "ALERT"),  # duplicate: dropped
            record("c2", 0, "NO_DATA_YET"),
            record("c2", 5),
            record("c2", 5, "SUBSCRIPTION_ACK"),  # an answer: passes even if not newer
            record("c2", 5),  # duplicate of the update: dropped
        ],
    )
    with BankSubscriber(bank, settings, state_path=state) as sub:
        got = read(sub)
        assert sub.dropped == 3
    by_ref = {ref: [(v, k) for r, v, k in got if r == ref] for ref in ("c1", "c2")}
    assert by_ref == {
        "c1": [(1, "SUBSCRIPTION_ACK"), (2, "PROFILE_UPDATE"), (4, "ALERT")],
        "c2": [(0, "NO_DATA_YET"), (5, "PROFILE_UPDATE"), (5, "SUBSCRIPTION_ACK")],
    }

    # The exchange re-sends (a failover) old versions, then a new one.
    write_feed(kafka_conf, bank, [record("c1", 4), record("c2", 5), record("c1", 6)])
    with BankSubscriber(bank, settings, state_path=state) as sub:
        assert read(sub) == [("c1", 6, "PROFILE_UPDATE")]

    # Offsets lost but ledger kept (a crash between the two writes, or a new group):
    # everything is redelivered, no applied version comes again; answers pass.
    with BankSubscriber(bank, settings, state_path=state, group=f"{bank}.other") as sub:
        again = read(sub)
    assert [x for x in again if x[2] in {"PROFILE_UPDATE", "ALERT"}] == []
    assert sorted(x[2] for x in again) == ["NO_DATA_YET", "SUBSCRIPTION_ACK", "SUBSCRIPTION_ACK"]


def test_leaving_the_loop_redelivers_only_the_item_left_on(
    kafka_conf: KafkaConf, settings: Settings, bank: str, tmp_path: Path
) -> None:
    state = tmp_path / "ledger.sqlite"
    write_feed(kafka_conf, bank, [record("c1", v) for v in (1, 2, 3, 4)])
    handled: list[int] = []
    with BankSubscriber(bank, settings, state_path=state) as sub:
        with pytest.raises(RuntimeError):
            for item in sub.feed(timeout=20, stop_at_end=True):
                if item.profile_version == 2:
                    raise RuntimeError("the bank's handler failed on version 2")
                handled.append(item.profile_version)
        # Same process: version 2 comes again, then the rest.
        handled += [i.profile_version for i in sub.feed(timeout=20, stop_at_end=True, limit=2)]
    # A new process: the two items taken with limit=2 were handled, only 4 is left.
    with BankSubscriber(bank, settings, state_path=state) as sub:
        handled += [v for _r, v, _k in read(sub)]
    assert handled == [1, 2, 3, 4]


def test_from_beginning_reads_everything_without_committing(
    kafka_conf: KafkaConf, settings: Settings, bank: str, tmp_path: Path
) -> None:
    write_feed(kafka_conf, bank, [record("c1", 1), record("c1", 1), record("c1", 2)])
    for _ in range(2):  # twice the same: nothing was committed or remembered
        with BankSubscriber(bank, settings, from_beginning=True) as sub:
            items: list[FeedItem] = list(sub.feed(timeout=20, stop_at_end=True))
        assert [i.profile_version for i in items] == [1, 2]
    assert items[0].profile == {"open_loans": 1}
    assert items[0].produced_at.tzinfo is not None
    with BankSubscriber(bank, settings, state_path=tmp_path / "l") as sub:
        assert len(read(sub)) == 2  # the default group had not moved


def run_cli(argv: list[str], settings: Settings) -> int:
    """Run streams.commands.feed the way streams.cli does (it may not list it yet)."""
    parser = argparse.ArgumentParser(prog="creditstream")
    feed_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args, settings)
    return code


def test_feed_and_subscribe_commands(
    kafka_conf: KafkaConf,
    settings: Settings,
    bank: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = ["--bank", bank, "--national-id", "850101-1234", "--customer-ref", "cust-9",
               "--consent-ref", "CONS-9"]  # fmt: skip
    assert run_cli(["subscribe", *request, "--purpose", "COLLECTIONS",
                    "--expires", "2099-01-31"], settings) == 0  # fmt: skip
    assert run_cli(["revoke", *request], settings) == 0
    out = capsys.readouterr().out
    assert "cust-9" in out and "850101" not in out
    assert len(consume_all(kafka_conf, topics.subscriptions(bank), expected=2)) == 2

    alert = {"kind": "multi_lending", "reason": "4 lenders in 30 days"}
    write_feed(kafka_conf, bank, [record("c1", 1), record("c1", 2, "ALERT", alerts=[alert]),
                                  record("c1", 2, "ALERT")])  # fmt: skip
    state = str(tmp_path / "cli.ledger")
    assert run_cli(["feed", "--bank", bank, "--state", state, "--timeout", "20"], settings) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines
    assert "c1  PROFILE_UPDATE  v1  open_loans=1" in lines[0]
    assert "ALERT  v2" in lines[1] and "[multi_lending: 4 lenders in 30 days]" in lines[1]
    assert lines[2] == f"2 item(s) from banks.{bank}.feed (1 duplicate(s) dropped)"
    # Shown once: the same group and ledger show nothing more; --from-beginning shows all.
    assert run_cli(["feed", "--bank", bank, "--state", state, "--timeout", "20"], settings) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"0 item(s) from banks.{bank}.feed (0 duplicate(s) dropped)"
    ]
    argv = ["feed", "--bank", bank, "--from-beginning", "--json", "--limit", "1"]
    assert run_cli(argv, settings) == 0
    (line,) = capsys.readouterr().out.splitlines()
    item = json.loads(line)
    assert (item["customer_ref"], item["profile_version"], item["kind"]) == (
        "c1",
        1,
        "PROFILE_UPDATE",
    )
