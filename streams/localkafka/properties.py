"""Generate the KRaft single-node ``server.properties`` (pure: no I/O, no processes).

Two modes: ``plain`` (PLAINTEXT, no authorizer: the default for tests and the demo)
and ``secure`` (SASL_SSL: TLS with the data dir's own CA (``streams.localkafka.tls``) and
SCRAM-SHA-512 for clients, the KRaft ``StandardAuthorizer``, deny when no ACL matches,
and an ``admin`` super user). In secure mode nothing travels in clear: the controller
listener is SASL_SSL too, so the SCRAM credentials it serves are encrypted on loopback.

Secure mode has three identities, each with its own password: ``admin`` (a SCRAM user
in the metadata log, for people and tools), and two the broker uses towards itself,
declared only in this file's JAAS lines (PLAIN): ``controller`` on the controller
listener and ``broker`` between brokers on the client listener. No password is needed
at format time, so none ever appears on a command line: ``start`` creates ``admin``'s
SCRAM credential through the admin API, logged in as ``broker``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Mode = Literal["plain", "secure"]

#: The super user people and tools log in as (SCRAM) in secure mode.
ADMIN_USER = "admin"
#: The principal the broker uses towards its own controller listener in secure mode.
CONTROLLER_USER = "controller"
#: The principal the broker uses towards brokers (itself) on the client listener.
BROKER_USER = "broker"


def _jaas(module: str, **fields: str) -> str:
    parts = " ".join(f'{k}="{v}"' for k, v in fields.items())
    return f"{module} required {parts};"


def server_properties(
    *,
    port: int,
    controller_port: int,
    log_dir: Path,
    mode: Mode,
    controller_password: str = "",
    broker_password: str = "",
    keystore: Path | None = None,
    keystore_password: str = "",
    ca_file: Path | None = None,
    partitions: int = 1,
) -> dict[str, str]:
    """Broker + controller in one process, bound to 127.0.0.1 only. Secure mode needs
    the two passwords and the TLS material (``keystore``: PKCS12 with its password,
    ``ca_file``: the PEM CA the broker trusts for its connections to itself)."""
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
    if not controller_password or not broker_password or controller_password == broker_password:
        raise ValueError("secure mode needs two distinct passwords (controller, broker)")
    if keystore is None or ca_file is None or not keystore_password:
        raise ValueError("secure mode needs a keystore, its password and a CA file")
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    # The controller listener authenticates too (PLAIN: SCRAM credentials live in the
    # metadata log the controller serves), so nobody gets in unauthenticated anywhere.
    controller_jaas = _jaas(
        plain,
        username=CONTROLLER_USER,
        password=controller_password,
        **{f"user_{CONTROLLER_USER}": controller_password},
    )
    broker_jaas = _jaas(
        plain,
        username=BROKER_USER,
        password=broker_password,
        **{f"user_{BROKER_USER}": broker_password},
    )
    props |= {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL",
        "inter.broker.listener.name": "SASL_SSL",
        # One key and one trust for every listener and for the broker's own clients
        # (to its controller and to itself); clients verify the host name (the
        # certificate names 127.0.0.1), and TLS 1.2 is the floor.
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(keystore),
        "ssl.keystore.password": keystore_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca_file),
        "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        "ssl.endpoint.identification.algorithm": "https",
        # Clients: SCRAM. PLAIN knows one user only, the broker itself (JAAS, not the
        # metadata log), so a tenant can log in with nothing but its SCRAM credential.
        "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": controller_jaas,
        "listener.name.sasl_ssl.plain.sasl.jaas.config": broker_jaas,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": f"{scram} required;",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_USER};User:{CONTROLLER_USER};User:{BROKER_USER}",
    }
    return props


def render(props: dict[str, str]) -> str:
    """Java properties text (values here never need escaping beyond what we write)."""
    return "".join(f"{k}={v}\n" for k, v in sorted(props.items()))
