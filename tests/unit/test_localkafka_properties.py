"""The generated KRaft config: loopback only, and secure mode closes every door."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.localkafka.properties import render, server_properties

SECURE = {
    "controller_password": "ctl-pw",
    "broker_password": "brk-pw",
    "keystore": Path("/d/tls/broker.p12"),
    "keystore_password": "ks-pw",
    "ca_file": Path("/d/tls/ca.crt"),
}


def test_plain_mode_binds_loopback_and_single_replica() -> None:
    props = server_properties(port=9092, controller_port=9093, log_dir=Path("/d"), mode="plain")
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["process.roles"] == "broker,controller"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["auto.create.topics.enable"] == "false"
    assert "authorizer.class.name" not in props


def test_secure_mode_authenticates_every_listener_and_denies_without_acl() -> None:
    props = server_properties(
        port=1,
        controller_port=2,
        log_dir=Path("/d"),
        mode="secure",
        **SECURE,  # type: ignore[arg-type]
    )
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) == {"SASL_SSL"}  # nothing in clear, not even control
    assert props["listeners"] == "SASL_SSL://127.0.0.1:1,CONTROLLER://127.0.0.1:2"
    assert props["ssl.keystore.location"] == "/d/tls/broker.p12"
    assert props["ssl.keystore.password"] == "ks-pw"
    assert (props["ssl.truststore.type"], props["ssl.truststore.location"]) == (
        "PEM",
        "/d/tls/ca.crt",
    )
    assert props["ssl.endpoint.identification.algorithm"] == "https"
    assert "TLSv1.1" not in props["ssl.enabled.protocols"]
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,PLAIN"
    assert props["super.users"] == "User:admin;User:controller;User:broker"
    text = render(props)
    assert text.count("\n") == len(props)
    # Each of the broker's own identities has its own password; the admin's is in no file.
    assert 'user_controller="ctl-pw"' in props["listener.name.controller.plain.sasl.jaas.config"]
    broker = props["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert 'user_broker="brk-pw"' in broker and "ctl-pw" not in broker
    assert "password" not in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]


def test_secure_mode_refuses_shared_or_missing_passwords() -> None:
    for ctl, brk in [("same", "same"), ("", "x"), ("x", "")]:
        with pytest.raises(ValueError, match="distinct"):
            server_properties(
                port=1, controller_port=2, log_dir=Path("/d"), mode="secure",
                **(SECURE | {"controller_password": ctl, "broker_password": brk}),  # type: ignore[arg-type]
            )  # fmt: skip


@pytest.mark.parametrize("missing", ["keystore", "keystore_password", "ca_file"])
def test_secure_mode_refuses_to_run_without_tls(missing: str) -> None:
    with pytest.raises(ValueError, match="keystore"):
        server_properties(
            port=1, controller_port=2, log_dir=Path("/d"), mode="secure",
            **(SECURE | {missing: None if missing != "keystore_password" else ""}),  # type: ignore[arg-type]
        )  # fmt: skip


def test_cluster_ids_never_look_like_options() -> None:
    from streams.localkafka.process import _cluster_id

    ids = {_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)
