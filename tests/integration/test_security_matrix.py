"""Isolation enforced by the broker: provision tenants on a PRIVATE secure broker (SASL/SCRAM,
StandardAuthorizer, deny without an ACL) through ``streams.ops.admin``, then check a matrix of
forbidden actions (each denied by the broker with its specific error) and of permitted
actions (each succeeds). Every check is bounded by short client timeouts.
"""

from __future__ import annotations

import argparse
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from pydantic import SecretStr

from streams import topics
from streams.commands import admin as admin_cmd
from streams.domain import acl
from streams.errors import BrokerError, ConfigError
from streams.localkafka import BrokerSpec, start, stop
from streams.localkafka.process import client_config, tls_of
from streams.ops import admin
from streams.runtime.registry import codec_for
from streams.sdk.producer import DeliveryReport, PlatformProducer
from streams.sdk.subscriber import BankSubscriber
from streams.settings import KafkaConf, Settings
from streams.wire.schemas import FEED_RECORD
from tests.integration.conftest import broker_spec
from tests.waiting import NotYet, eventually

pytestmark = pytest.mark.integration

APP_ID = "creditstream"
EXCHANGE = "creditstream-exchange"
TENANTS = {"p1": "platform", "p2": "platform", "b1": "bank", "b2": "bank"}
TOPIC_DENIED = "TOPIC_AUTHORIZATION_FAILED"
GROUP_DENIED = "GROUP_AUTHORIZATION_FAILED"
CLUSTER_DENIED = "CLUSTER_AUTHORIZATION_FAILED"
TXN_DENIED = "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
AUTH_FAILED = "_AUTHENTICATION"


@dataclass
class Cluster:
    spec: BrokerSpec
    passwords: dict[str, str]

    @property
    def admin_conf(self) -> KafkaConf:
        return client_config(self.spec)

    def conf(self, user: str, password: str | None = None) -> KafkaConf:
        return self.admin_conf | {
            "sasl.username": user,
            "sasl.password": password or self.passwords[user],
            "log_level": 0,  # denials are the expected outcome here: keep stderr quiet
        }


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    spec = broker_spec("sec", mode="secure")
    start(spec)
    try:
        conf = client_config(spec)
        passwords = {u: secrets.token_urlsafe(18) for u in [EXCHANGE, *TENANTS]}
        admin.provision_exchange(conf, 2, passwords[EXCHANGE], user=EXCHANGE, app_id=APP_ID)
        for name, kind in TENANTS.items():
            make = admin.provision_platform if kind == "platform" else admin.provision_bank
            make(conf, name, 2, passwords[name])
        yield Cluster(spec, passwords)
    finally:
        stop(spec)


# -- the probes: each returns the error name the broker answered, or "OK" ----------------------


def produce(conf: KafkaConf, topic: str, *, idempotent: bool = False) -> str:
    """Produce one record; the delivery report's error name, or OK."""
    outcome: list[str] = []
    producer = Producer(
        conf
        | {
            "acks": "all",
            "enable.idempotence": idempotent,
            "message.timeout.ms": 5000,
            "socket.timeout.ms": 5000,
        }
    )
    producer.produce(
        topic,
        b"probe",
        key=b"k",
        on_delivery=lambda err, _m: outcome.append("OK" if err is None else err.name()),
    )
    producer.flush(15)
    return outcome[0] if outcome else "NO_REPORT"


def consume(conf: KafkaConf, topic: str, group: str, *, commit: bool = False) -> str:
    """Join ``group`` on ``topic``; the first consumer error, or OK once a record arrives
    (committing it when ``commit``). Bounded: NO_ANSWER after ~10 s of silence."""
    consumer = Consumer(
        conf
        | {
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    try:
        consumer.subscribe([topic])
        for _ in range(20):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                return str(err.name())
            if commit:
                consumer.commit(msg, asynchronous=False)
            return "OK"
        return "NO_ANSWER"
    except KafkaException as exc:
        return str(exc.args[0].name())
    finally:
        consumer.close()


def admin_call(conf: KafkaConf, call: Callable[[AdminClient], object]) -> str:
    """Run one admin request: the error name of its (first) future, or OK."""
    client = AdminClient(conf)
    try:
        futures = call(client)
        for future in futures.values() if isinstance(futures, dict) else [futures]:
            future.result(timeout=15)  # type: ignore[attr-defined]
    except KafkaException as exc:
        return str(exc.args[0].name())
    return "OK"


def login(conf: KafkaConf) -> str:
    """Authenticate and fetch metadata: OK, or the authentication error librdkafka
    reports through ``error_cb`` (the metadata call itself only sees a dropped link)."""
    errors: list[str] = []
    client = AdminClient(conf | {"error_cb": lambda err: errors.append(err.name())})
    try:
        client.list_topics(timeout=5)
    except KafkaException:
        client.poll(1)  # serve error_cb
        return AUTH_FAILED if AUTH_FAILED in errors else f"OTHER: {errors}"
    return "OK"


def init_transactions(conf: KafkaConf, transactional_id: str) -> str:
    producer = Producer(
        conf | {"transactional.id": transactional_id, "transaction.timeout.ms": 10000}
    )
    try:
        producer.init_transactions(15)
    except KafkaException as exc:
        return str(exc.args[0].name())
    return "OK"


def create_topic(name: str) -> Callable[[AdminClient], object]:
    return lambda c: c.create_topics([NewTopic(name, 1, 1)], operation_timeout=10)


def delete_topic(name: str) -> Callable[[AdminClient], object]:
    return lambda c: c.delete_topics([name], operation_timeout=10)


def alter_config(name: str) -> Callable[[AdminClient], object]:
    entry = ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[entry])
    return lambda c: c.incremental_alter_configs([resource])


def add_partitions(name: str) -> Callable[[AdminClient], object]:
    return lambda c: c.create_partitions([NewPartitions(name, 8)])


def grant_self(user: str) -> Callable[[AdminClient], object]:
    binding = AclBinding(
        ResourceType.TOPIC,
        "exchange.",
        ResourcePatternType.PREFIXED,
        f"User:{user}",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    return lambda c: c.create_acls([binding])


def delete_records(name: str) -> Callable[[AdminClient], object]:
    return lambda c: c.delete_records([TopicPartition(name, 0, 1)])


def _g() -> str:
    return uuid.uuid4().hex[:6]


Probe = Callable[[Cluster], str]


def reads(who: str, topic: str, group: str | None = None) -> Probe:
    """``who`` consumes ``topic`` in ``group`` (default: a group inside its own prefix)."""
    return lambda c: consume(c.conf(who), topic, group or f"{who}.{_g()}")


def writes(who: str, topic: str) -> Probe:
    return lambda c: produce(c.conf(who), topic)


def calls(who: str, call: Callable[[AdminClient], object]) -> Probe:
    return lambda c: admin_call(c.conf(who), call)


def transacts(who: str, transactional_id: str) -> Probe:
    return lambda c: init_transactions(c.conf(who), transactional_id)


def logs_in(user: str, password: Callable[[Cluster], str]) -> Probe:
    return lambda c: login(c.conf(user, password(c)))


X = EXCHANGE
EX_TXN = f"{APP_ID}-ingress-x"
# (what is tried, the probe, the broker's expected answer)
FORBIDDEN: list[tuple[str, Probe, str]] = [
    # bank b1
    ("b1 reads b2's feed", reads("b1", "banks.b2.feed"), TOPIC_DENIED),
    ("b1 reads its own subscriptions", reads("b1", "banks.b1.subscriptions"), TOPIC_DENIED),
    ("b1 reads b2's subscriptions", reads("b1", "banks.b2.subscriptions"), TOPIC_DENIED),
    ("b1 writes its own feed", writes("b1", "banks.b1.feed"), TOPIC_DENIED),
    ("b1 writes b2's feed", writes("b1", "banks.b2.feed"), TOPIC_DENIED),
    ("b1 writes b2's subscriptions", writes("b1", "banks.b2.subscriptions"), TOPIC_DENIED),
    ("b1 reads exchange.events", reads("b1", topics.EXCHANGE_EVENTS), TOPIC_DENIED),
    ("b1 reads exchange.profiles", reads("b1", topics.EXCHANGE_PROFILES), TOPIC_DENIED),
    ("b1 reads exchange.audit", reads("b1", topics.EXCHANGE_AUDIT), TOPIC_DENIED),
    ("b1 reads p1's loans", reads("b1", "ingest.p1.loans"), TOPIC_DENIED),
    ("b1 reads p1's disputes", reads("b1", "platforms.p1.disputes"), TOPIC_DENIED),
    ("b1 writes exchange.requests", writes("b1", topics.REQUESTS), TOPIC_DENIED),
    ("b1 writes p1's activity", writes("b1", "ingest.p1.activity"), TOPIC_DENIED),
    ("b1 writes exchange.audit", writes("b1", topics.EXCHANGE_AUDIT), TOPIC_DENIED),
    ("b1 joins b2's group prefix", reads("b1", "banks.b1.feed", f"b2.{_g()}"), GROUP_DENIED),
    ("b1 joins the exchange's group", reads("b1", "banks.b1.feed", f"{APP_ID}-x"), GROUP_DENIED),
    ("b1 uses a group outside b1.", reads("b1", "banks.b1.feed", f"b1-{_g()}"), GROUP_DENIED),
    ("b1 creates a topic", calls("b1", create_topic("banks.b1.extra")), TOPIC_DENIED),
    ("b1 deletes its feed", calls("b1", delete_topic("banks.b1.feed")), TOPIC_DENIED),
    ("b1 alters its feed's config", calls("b1", alter_config("banks.b1.feed")), TOPIC_DENIED),
    ("b1 adds partitions to its feed", calls("b1", add_partitions("banks.b1.feed")), TOPIC_DENIED),
    (
        "b1 deletes records of its subscriptions",
        calls("b1", delete_records("banks.b1.subscriptions")),
        TOPIC_DENIED,
    ),
    ("b1 grants itself an ACL", calls("b1", grant_self("b1")), CLUSTER_DENIED),
    ("b1 uses the exchange's transactional id", transacts("b1", EX_TXN), TXN_DENIED),
    # platform p1
    ("p1 writes p2's loans", writes("p1", "ingest.p2.loans"), TOPIC_DENIED),
    ("p1 writes p2's activity", writes("p1", "ingest.p2.activity"), TOPIC_DENIED),
    ("p1 writes its own rejected topic", writes("p1", "ingest.p1.rejected"), TOPIC_DENIED),
    ("p1 writes p2's rejected topic", writes("p1", "ingest.p2.rejected"), TOPIC_DENIED),
    ("p1 reads its own loans", reads("p1", "ingest.p1.loans"), TOPIC_DENIED),
    ("p1 reads its own activity", reads("p1", "ingest.p1.activity"), TOPIC_DENIED),
    ("p1 reads p2's rejects", reads("p1", "ingest.p2.rejected"), TOPIC_DENIED),
    ("p1 joins p2's group", reads("p1", "ingest.p1.rejected", f"p2.{_g()}"), GROUP_DENIED),
    ("p1 reads p2's disputes", reads("p1", "platforms.p2.disputes"), TOPIC_DENIED),
    ("p1 writes its own disputes", writes("p1", "platforms.p1.disputes"), TOPIC_DENIED),
    ("p1 writes exchange.requests", writes("p1", topics.REQUESTS), TOPIC_DENIED),
    ("p1 reads exchange.events", reads("p1", topics.EXCHANGE_EVENTS), TOPIC_DENIED),
    ("p1 reads exchange.profiles", reads("p1", topics.EXCHANGE_PROFILES), TOPIC_DENIED),
    ("p1 reads b1's feed", reads("p1", "banks.b1.feed"), TOPIC_DENIED),
    ("p1 writes b1's subscriptions", writes("p1", "banks.b1.subscriptions"), TOPIC_DENIED),
    ("p1 writes exchange.events", writes("p1", topics.EXCHANGE_EVENTS), TOPIC_DENIED),
    ("p1 creates an ingest topic", calls("p1", create_topic("ingest.p1.extra")), TOPIC_DENIED),
    ("p1 deletes its loans topic", calls("p1", delete_topic("ingest.p1.loans")), TOPIC_DENIED),
    ("p1 alters its loans config", calls("p1", alter_config("ingest.p1.loans")), TOPIC_DENIED),
    ("p1 grants itself an ACL", calls("p1", grant_self("p1")), CLUSTER_DENIED),
    ("p1 uses the exchange's transactional id", transacts("p1", EX_TXN), TXN_DENIED),
    # the exchange runs the pipeline; it does not administer tenants
    ("exchange creates a platform topic", calls(X, create_topic("ingest.p9.loans")), TOPIC_DENIED),
    ("exchange deletes a bank feed", calls(X, delete_topic("banks.b1.feed")), TOPIC_DENIED),
    ("exchange joins a bank's group", reads(X, "ingest.p1.loans", f"b1.{_g()}"), GROUP_DENIED),
    ("exchange grants itself an ACL", calls(X, grant_self(X)), CLUSTER_DENIED),
    # it writes only what its stages produce for a provisioned tenant (issue 17)
    ("exchange writes a platform's loans", writes(X, "ingest.p1.loans"), TOPIC_DENIED),
    ("exchange writes a platform's activity", writes(X, "ingest.p1.activity"), TOPIC_DENIED),
    ("exchange writes a bank's subscriptions", writes(X, "banks.b1.subscriptions"), TOPIC_DENIED),
    # authentication
    ("b1 logs in with a wrong password", logs_in("b1", lambda c: "wrong-pass-123"), AUTH_FAILED),
    ("p1 logs in with b1's password", logs_in("p1", lambda c: c.passwords["b1"]), AUTH_FAILED),
    ("an unknown user logs in", logs_in("mallory", lambda c: "whatever-pass-1"), AUTH_FAILED),
    ("admin with a tenant's password", logs_in("admin", lambda c: c.passwords["p1"]), AUTH_FAILED),
]


def test_the_matrix_is_big_enough() -> None:
    assert len(FORBIDDEN) >= 30


@pytest.mark.parametrize(
    ("action", "probe", "expected"), FORBIDDEN, ids=[action for action, _p, _e in FORBIDDEN]
)
def test_forbidden(cluster: Cluster, action: str, probe: Probe, expected: str) -> None:
    assert probe(cluster) == expected, f"allowed or wrong error: {action}"


# -- permitted actions ------------------------------------------------------------------------


def settings_for(cluster: Cluster, user: str) -> Settings:
    return Settings(
        bootstrap=cluster.spec.bootstrap,
        security_protocol="SASL_SSL",
        ssl_ca_file=tls_of(cluster.spec).ca,
        sasl_username=user,
        sasl_password=SecretStr(cluster.passwords[user]),
        client_log_level=0,
    )


def test_platform_publishes_with_an_idempotent_producer_and_no_cluster_acl(
    cluster: Cluster,
) -> None:
    # p1 holds no cluster IDEMPOTENT_WRITE: on Kafka >= 3 WRITE on the topic is enough.
    assert not [
        a for a in admin.list_acls(cluster.admin_conf, "User:p1") if a.resource_type == "CLUSTER"
    ]
    reports: list[DeliveryReport] = []
    with PlatformProducer("p1", settings_for(cluster, "p1"), on_delivery=reports.append) as sdk:
        sdk.send_raw("loans", "u1", b"not-avro-but-authorized")
        sdk.send_raw("activity", "u1", b"not-avro-but-authorized")
    assert [(r.topic, r.ok) for r in reports] == [
        ("ingest.p1.loans", True),
        ("ingest.p1.activity", True),
    ] or sorted((r.topic, r.ok) for r in reports) == [
        ("ingest.p1.activity", True),
        ("ingest.p1.loans", True),
    ]


def test_exchange_runs_the_pipeline(cluster: Cluster) -> None:
    conf = cluster.conf(EXCHANGE)
    assert produce(cluster.conf("p2"), "ingest.p2.loans", idempotent=True) == "OK"
    assert consume(conf, "ingest.p2.loans", f"{APP_ID}-ingress", commit=True) == "OK"
    for topic in [
        topics.EXCHANGE_EVENTS,
        topics.EXCHANGE_PROFILES,
        topics.EXCHANGE_AUDIT,
        "ingest.p2.rejected",
        "banks.b2.feed",
    ]:
        assert produce(conf, topic, idempotent=True) == "OK", topic
    assert produce(cluster.conf("b2"), "banks.b2.subscriptions", idempotent=True) == "OK"
    assert consume(conf, "banks.b2.subscriptions", f"{APP_ID}-consent") == "OK"
    # Faust runs no Kafka client of its own: no group named after the app id, no
    # changelog topics of its tables; the exchange's own topics it may create.
    assert consume(conf, topics.EXCHANGE_EVENTS, APP_ID) == GROUP_DENIED
    assert admin_call(conf, create_topic(f"exchange.scratch-{_g()}")) == "OK"
    assert admin_call(conf, create_topic(f"{APP_ID}-table-{_g()}-changelog")) == TOPIC_DENIED


def test_exchange_commits_a_transaction_with_its_transactional_id(cluster: Cluster) -> None:
    conf = cluster.conf(EXCHANGE)
    assert produce(conf, "ingest.p1.rejected", idempotent=True) == "OK"
    consumer = Consumer(
        conf | {"group.id": f"{APP_ID}-ingress", "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "isolation.level": "read_committed"}
    )  # fmt: skip
    producer = Producer(conf | {"transactional.id": f"{APP_ID}-ingress-x", "acks": "all"})
    try:
        consumer.subscribe(["ingest.p1.rejected"])
        msg = None
        for _ in range(30):
            msg = consumer.poll(0.5)
            if msg is not None:
                break
        assert msg is not None and msg.error() is None
        producer.init_transactions(15)
        producer.begin_transaction()
        producer.produce(topics.EXCHANGE_EVENTS, b"tx", key=b"k")
        producer.send_offsets_to_transaction(
            [TopicPartition(msg.topic(), msg.partition(), (msg.offset() or 0) + 1)],
            consumer.consumer_group_metadata(),
            15,
        )
        producer.commit_transaction(15)
    finally:
        consumer.close()


def test_platform_reads_its_rejects_in_its_group(cluster: Cluster) -> None:
    assert produce(cluster.conf(EXCHANGE), "ingest.p1.rejected", idempotent=True) == "OK"
    assert consume(cluster.conf("p1"), "ingest.p1.rejected", "p1.rejects", commit=True) == "OK"


def test_platform_reads_the_disputes_against_it_in_its_group(cluster: Cluster) -> None:
    assert produce(cluster.conf(EXCHANGE), "platforms.p1.disputes", idempotent=True) == "OK"
    assert consume(cluster.conf("p1"), "platforms.p1.disputes", "p1.disputes", commit=True) == "OK"


def test_bank_subscribes_and_reads_its_feed_in_its_group(cluster: Cluster) -> None:
    assert produce(cluster.conf("b1"), "banks.b1.subscriptions", idempotent=True) == "OK"
    assert produce(cluster.conf(EXCHANGE), "banks.b1.feed", idempotent=True) == "OK"
    assert consume(cluster.conf("b1"), "banks.b1.feed", "b1.x", commit=True) == "OK"


def test_broker_holds_exactly_the_modelled_acls(cluster: Cluster) -> None:
    expected = {
        "p1": acl.platform_acls("p1"),
        "p2": acl.platform_acls("p2"),
        "b1": acl.bank_acls("b1"),
        "b2": acl.bank_acls("b2"),
        EXCHANGE: [
            *acl.exchange_acls(EXCHANGE, APP_ID),
            *(
                a
                for t, kind in TENANTS.items()
                for a in acl.exchange_tenant_acls(kind, t, EXCHANGE)  # type: ignore[arg-type]
            ),
        ],
    }
    for user, wanted in expected.items():
        assert admin.list_acls(cluster.admin_conf, f"User:{user}") == sorted(wanted), user


def test_provisioning_is_idempotent_and_refuses_a_taken_name(cluster: Cluster) -> None:
    again = admin.provision_platform(cluster.admin_conf, "p1", 2, None)
    assert (again.user_created, again.password_set) == (False, False)
    assert again.topics_created == [] and again.acls_created == []
    # The password was kept: p1 still logs in with it.
    assert login(cluster.conf("p1")) == "OK"
    # p1 is a platform: it cannot also become a bank (same User: principal).
    with pytest.raises(ConfigError, match="provisioned as something else"):
        admin.provision_bank(cluster.admin_conf, "p1", 2, None)
    assert "banks.p1.feed" not in AdminClient(cluster.admin_conf).list_topics(timeout=10).topics
    # A new user needs a password.
    with pytest.raises(ConfigError, match="password is needed"):
        admin.provision_bank(cluster.admin_conf, "b9", 2, None)


def run_cli(module: Any, argv: list[str], settings: Settings) -> int:
    """Run one command module the way streams.cli does (it may not list it yet)."""
    parser = argparse.ArgumentParser(prog="creditstream")
    module.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args, settings)
    return code


def test_admin_cli_provisions_a_bank_without_printing_its_password(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin_settings = Settings(
        bootstrap=cluster.spec.bootstrap,
        security_protocol="SASL_SSL",
        ssl_ca_file=tls_of(cluster.spec).ca,
        sasl_username="admin",
        sasl_password=SecretStr(str(cluster.admin_conf["sasl.password"])),
        client_log_level=0,
    )
    argv = ["admin", "provision-bank", "b3", "--secrets-dir", str(tmp_path), "--partitions", "1"]
    assert run_cli(admin_cmd, argv, admin_settings) == 0
    secret = tmp_path / "b3.password"
    password = secret.read_text().strip()
    assert secret.stat().st_mode & 0o777 == 0o600
    out = capsys.readouterr().out
    assert password not in out and str(secret) in out
    assert "banks.b3.feed" in out
    cluster.passwords["b3"] = password
    assert produce(cluster.conf("b3"), "banks.b3.subscriptions", idempotent=True) == "OK"
    assert reads("b3", "banks.b1.feed")(cluster) == TOPIC_DENIED

    # Again: nothing new, the password is kept and still not printed.
    assert run_cli(admin_cmd, argv, admin_settings) == 0
    out = capsys.readouterr().out
    assert "password unchanged" in out and "(0 new)" in out and password not in out
    assert run_cli(admin_cmd, ["admin", "acls", "--principal", "b3"], admin_settings) == 0
    listed = capsys.readouterr().out
    assert "banks.b3.feed" in listed and "banks.b1" not in listed
    # Tenants cannot run it: their credentials are not a super user's.
    bank_settings = settings_for(cluster, "b1")
    # Tenants cannot administer (the broker would list them no bindings, silently).
    with pytest.raises(BrokerError, match="CLUSTER_AUTHORIZATION_FAILED"):
        run_cli(admin_cmd, ["admin", "acls"], bank_settings)
    with pytest.raises(BrokerError, match="CLUSTER_AUTHORIZATION_FAILED"):
        run_cli(
            admin_cmd,
            ["admin", "provision-bank", "b4", "--secrets-dir", str(tmp_path / "b4")],
            bank_settings,
        )


def test_bank_sdk_works_within_its_acls_and_nowhere_else(cluster: Cluster, tmp_path: Path) -> None:
    cluster.passwords["b5"] = secrets.token_urlsafe(18)
    admin.provision_bank(cluster.admin_conf, "b5", 1, cluster.passwords["b5"])
    feed_record = {"customer_ref": "c1", "profile_version": 3, "kind": "PROFILE_UPDATE",
                   "produced_at": 1_760_000_000_000, "alerts": []}  # fmt: skip
    exchange = Producer(cluster.conf(EXCHANGE) | {"enable.idempotence": True})
    for _ in range(2):  # a duplicate, as after a failover
        exchange.produce("banks.b5.feed", codec_for(None).encode(FEED_RECORD, feed_record), b"c1")
    assert exchange.flush(15) == 0
    settings = settings_for(cluster, "b5")
    expires = datetime.now(UTC) + timedelta(days=30)
    with BankSubscriber("b5", settings, state_path=tmp_path / "b5.ledger") as sub:
        sub.subscribe("850101-1234", "c1", "CONS-1", "CREDIT_APPLICATION", expires)
        got = [(i.customer_ref, i.profile_version) for i in sub.feed(20, stop_at_end=True)]
    assert got == [("c1", 3)]
    # Another bank's topics are not even visible to it.
    with (
        pytest.raises(ConfigError, match=r"topic banks\.b1\.feed is not available"),
        BankSubscriber("b1", settings, state_path=tmp_path / "b1.ledger") as other,
    ):
        list(other.feed(5))


def test_provisioning_the_exchange_again_drops_the_old_prefix_writes(cluster: Cluster) -> None:
    """A broker provisioned by a release before issue 17 gave the exchange WRITE on the
    ``ingest.`` and ``banks.`` prefixes; provisioning it again takes that away and keeps
    what the tenants' provisioning granted."""
    conf = cluster.admin_conf
    forged = writes(X, "ingest.p1.loans")

    def answers(probe: Probe, expected: str) -> bool | NotYet:
        got = probe(cluster)  # ACL changes reach the authorizer through the metadata log
        return got == expected or NotYet(f"answered {got}")

    admin.grant(conf, acl.obsolete_exchange_acls(EXCHANGE))
    eventually(lambda: answers(forged, "OK"), what="the old, too wide, right works", timeout=30)
    admin.provision_exchange(conf, 2, None, user=EXCHANGE, app_id=APP_ID)
    held = set(admin.list_acls(conf, acl.principal(EXCHANGE)))
    assert not held & set(acl.obsolete_exchange_acls(EXCHANGE))
    assert set(acl.exchange_tenant_acls("platform", "p1", EXCHANGE)) <= held
    eventually(lambda: answers(forged, TOPIC_DENIED), what="the old right is gone", timeout=30)
    assert writes(X, "ingest.p1.rejected")(cluster) == "OK"
