"""The generated KRaft config: loopback only, and secure mode closes every door."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.localkafka.properties import render, server_properties


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
        controller_password="ctl-pw",
        broker_password="brk-pw",
    )
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}  # nothing PLAINTEXT, not even control
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,PLAIN"
    assert props["super.users"] == "User:admin;User:controller;User:broker"
    text = render(props)
    assert text.count("\n") == len(props)
    # Each of the broker's own identities has its own password; the admin's is in no file.
    assert 'user_controller="ctl-pw"' in props["listener.name.controller.plain.sasl.jaas.config"]
    broker = props["listener.name.sasl_plaintext.plain.sasl.jaas.config"]
    assert 'user_broker="brk-pw"' in broker and "ctl-pw" not in broker
    assert "password" not in props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"]


def test_secure_mode_refuses_shared_or_missing_passwords() -> None:
    for ctl, brk in [("same", "same"), ("", "x"), ("x", "")]:
        with pytest.raises(ValueError, match="distinct"):
            server_properties(
                port=1, controller_port=2, log_dir=Path("/d"), mode="secure",
                controller_password=ctl, broker_password=brk,
            )  # fmt: skip


def test_cluster_ids_never_look_like_options() -> None:
    from streams.localkafka.process import _cluster_id

    ids = {_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)
