"""Generate the KRaft single-node ``server.properties`` (pure: no I/O, no processes).

Two modes: ``plain`` (PLAINTEXT, no authorizer: the default for tests and the demo)
and ``secure`` (SASL_PLAINTEXT with SCRAM-SHA-512 for clients, the KRaft
``StandardAuthorizer``, deny when no ACL matches, and an ``admin`` super user).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Mode = Literal["plain", "secure"]

#: The super user created at format time in secure mode.
ADMIN_USER = "admin"
#: The principal the broker uses towards its own controller listener in secure mode.
CONTROLLER_USER = "controller"


def _jaas(module: str, **fields: str) -> str:
    parts = " ".join(f'{k}="{v}"' for k, v in fields.items())
    return f"{module} required {parts};"


def server_properties(
    *,
    port: int,
    controller_port: int,
    log_dir: Path,
    mode: Mode,
    admin_password: str,
    partitions: int = 1,
) -> dict[str, str]:
    """Broker + controller in one process, bound to 127.0.0.1 only."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(log_dir),
        "num.partitions": str(partitions),
        # One node: every internal topic has one replica.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Tests and the demo start consumers right away; do not wait 3 s to rebalance.
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "log.retention.check.interval.ms": "60000",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    if mode == "plain":
        props |= {
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
        }
        return props
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    # The controller listener authenticates too (PLAIN: SCRAM credentials live in the
    # metadata log the controller serves), so nobody gets in unauthenticated anywhere.
    controller_jaas = _jaas(
        plain,
        username=CONTROLLER_USER,
        password=admin_password,
        **{f"user_{CONTROLLER_USER}": admin_password},
    )
    props |= {
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": controller_jaas,
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": _jaas(
            scram, username=ADMIN_USER, password=admin_password
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_USER};User:{CONTROLLER_USER}",
    }
    return props


def render(props: dict[str, str]) -> str:
    """Java properties text (values here never need escaping beyond what we write)."""
    return "".join(f"{k}={v}\n" for k, v in sorted(props.items()))
