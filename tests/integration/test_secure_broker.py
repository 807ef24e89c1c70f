"""The secure mode: SASL/SCRAM-SHA-512, StandardAuthorizer, deny without an ACL."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams.localkafka import start, stop
from streams.localkafka.datadir import admin_password
from streams.localkafka.process import client_config
from streams.settings import KafkaConf
from tests.integration.conftest import broker_spec


def _as(conf: KafkaConf, user: str, password: str) -> KafkaConf:
    return conf | {"sasl.username": user, "sasl.password": password}


def test_secure_mode_authenticates_and_authorizes() -> None:
    spec = broker_spec("secure", mode="secure")
    try:
        info = start(spec)
        assert info.mode == "secure"
        admin_conf = client_config(spec)
        assert admin_conf["security.protocol"] == "SASL_PLAINTEXT"
        admin = AdminClient(admin_conf)
        futures = admin.create_topics([NewTopic("guarded", 1, 1)])
        futures["guarded"].result(timeout=30)
        assert "guarded" in admin.list_topics(timeout=10).topics

        # A wrong password never gets in.
        intruder = AdminClient(_as(admin_conf, "admin", "wrong") | {"log_level": 0})
        with pytest.raises(KafkaException):
            intruder.list_topics(timeout=5)

        # A user with valid credentials but no ACL may not write (allow.everyone=false).
        admin.alter_user_scram_credentials([_upsert("nobody", "s3cret-nobody")])["nobody"].result(
            timeout=30
        )
        producer = Producer(
            _as(admin_conf, "nobody", "s3cret-nobody")
            | {"acks": "all", "message.timeout.ms": 10000, "log_level": 0}
        )
        errors: list[str] = []
        producer.produce(
            "guarded", b"x", on_delivery=lambda err, _m: errors.append(err.name() if err else "ok")
        )
        producer.flush(20)
        assert errors == ["TOPIC_AUTHORIZATION_FAILED"]
        assert admin_password(spec) not in (spec.data_dir / "server.log").read_text()
    finally:
        stop(spec)


def _upsert(user: str, password: str) -> object:
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    return UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
