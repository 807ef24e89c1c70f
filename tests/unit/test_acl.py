"""The ACL model (pure): exact bindings per principal, nothing outside a tenant's names,
and the same intent as deploy/k8s/users.yaml's permission table."""

from __future__ import annotations

from typing import Any

import pytest

from streams.domain.acl import (
    EXCHANGE_USER,
    Acl,
    Operation,
    ResourceType,
    allowed,
    bank_acls,
    exchange_acls,
    exchange_tenant_acls,
    is_exchange_tenant_acl,
    obsolete_exchange_acls,
    platform_acls,
)
from tests.unit.test_deploy_manifests import PERMISSIONS


def test_platform_bindings_exactly() -> None:
    got = {
        (a.resource_type, a.resource_name, a.pattern_type, a.operation)
        for a in platform_acls("acme")
    }
    assert got == {
        ("TOPIC", "ingest.acme.loans", "LITERAL", "WRITE"),
        ("TOPIC", "ingest.acme.loans", "LITERAL", "DESCRIBE"),
        ("TOPIC", "ingest.acme.activity", "LITERAL", "WRITE"),
        ("TOPIC", "ingest.acme.activity", "LITERAL", "DESCRIBE"),
        ("TOPIC", "ingest.acme.rejected", "LITERAL", "READ"),
        ("TOPIC", "ingest.acme.rejected", "LITERAL", "DESCRIBE"),
        ("TOPIC", "platforms.acme.disputes", "LITERAL", "READ"),
        ("TOPIC", "platforms.acme.disputes", "LITERAL", "DESCRIBE"),
        ("GROUP", "acme.", "PREFIXED", "READ"),
    }  # fmt: skip
    assert {a.principal for a in platform_acls("acme")} == {"User:acme"}
    assert {a.permission for a in platform_acls("acme")} == {"ALLOW"}


def test_bank_bindings_exactly() -> None:
    got = {
        (a.resource_type, a.resource_name, a.pattern_type, a.operation) for a in bank_acls("bank-a")
    }
    assert got == {
        ("TOPIC", "banks.bank-a.subscriptions", "LITERAL", "WRITE"),
        ("TOPIC", "banks.bank-a.subscriptions", "LITERAL", "DESCRIBE"),
        ("TOPIC", "banks.bank-a.feed", "LITERAL", "READ"),
        ("TOPIC", "banks.bank-a.feed", "LITERAL", "DESCRIBE"),
        ("GROUP", "bank-a.", "PREFIXED", "READ"),
    }  # fmt: skip
    assert {a.principal for a in bank_acls("bank-a")} == {"User:bank-a"}


def test_exchange_bindings_exactly() -> None:
    got = {
        (a.resource_type, a.resource_name, a.pattern_type, a.operation)
        for a in exchange_acls("x", "cs")
    }
    own = {"READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS"}
    assert got == (
        {("TOPIC", "ingest.", "PREFIXED", op) for op in ("READ", "DESCRIBE")}
        | {("TOPIC", "banks.", "PREFIXED", op) for op in ("READ", "DESCRIBE")}
        | {("TOPIC", "exchange.", "PREFIXED", op) for op in own}
        | {("GROUP", "cs-", "PREFIXED", "READ")}
        | {("TRANSACTIONAL_ID", "cs-", "PREFIXED", op) for op in ("WRITE", "DESCRIBE")}
        | {("CLUSTER", "kafka-cluster", "LITERAL", "IDEMPOTENT_WRITE")}
    )  # fmt: skip


TENANT_TOPICS = ["ingest.{t}.loans", "ingest.{t}.activity", "ingest.{t}.rejected",
                 "platforms.{t}.disputes", "banks.{t}.subscriptions", "banks.{t}.feed"]  # fmt: skip
OTHERS = ["zeta", "acmex", "acme-x", "ac", "bank-ab", "bank-b"]


@pytest.mark.parametrize("make", [platform_acls, bank_acls])
@pytest.mark.parametrize("tenant", ["acme", "bank-a"])
def test_a_tenant_gets_nothing_outside_its_own_names(make: Any, tenant: str) -> None:
    acls = make(tenant)
    foreign_topics = [t.format(t=o) for t in TENANT_TOPICS for o in OTHERS] + [
        "exchange.events", "exchange.profiles", "exchange.audit", "creditstream-x-changelog",
    ]  # fmt: skip
    ops: list[Operation] = ["READ", "WRITE", "DESCRIBE", "CREATE", "DELETE", "ALTER"]
    for topic in foreign_topics:
        for op in ops:
            assert not allowed(acls, "TOPIC", topic, op), (tenant, topic, op)
    for group in [f"{o}.feed" for o in OTHERS] + ["creditstream", "creditstream-ingress", tenant]:
        assert not allowed(acls, "GROUP", group, "READ"), (tenant, group)
    assert not any(a.resource_type in {"CLUSTER", "TRANSACTIONAL_ID"} for a in acls)
    # Every binding names the tenant: the whole set is inside its namespace.
    assert all(tenant in a.resource_name for a in acls)


@pytest.mark.parametrize("tenant", ["acme", "bank-a"])
def test_a_tenant_never_deletes_creates_or_alters(tenant: str) -> None:
    for acl in platform_acls(tenant) + bank_acls(tenant):
        assert acl.operation in {"READ", "WRITE", "DESCRIBE"}


def test_a_platform_cannot_write_its_rejects_nor_read_its_ingest() -> None:
    acls = platform_acls("acme")
    assert not allowed(acls, "TOPIC", "ingest.acme.rejected", "WRITE")
    assert not allowed(acls, "TOPIC", "ingest.acme.loans", "READ")
    assert not allowed(acls, "TOPIC", "ingest.acme.new-kind", "WRITE")  # no prefix grant


def test_the_exchange_creates_only_its_own_topics() -> None:
    acls = exchange_acls()
    assert allowed(acls, "TOPIC", "exchange.events", "CREATE")
    # Faust runs no Kafka client: no changelog topics, no group of the app id itself.
    assert not allowed(acls, "TOPIC", "creditstream-borrowers-changelog", "CREATE")
    assert not allowed(acls, "GROUP", "creditstream", "READ")
    assert allowed(acls, "GROUP", "creditstream-ingress", "READ")
    for topic in ["ingest.acme.loans", "banks.bank-a.feed", "other"]:
        assert not allowed(acls, "TOPIC", topic, "CREATE")
        assert not allowed(acls, "TOPIC", topic, "DELETE")
    assert not allowed(acls, "GROUP", "bank-a.feed", "READ")
    assert allowed(acls, "TRANSACTIONAL_ID", "creditstream-ingress-3f2a", "WRITE")
    assert not allowed(acls, "TRANSACTIONAL_ID", "bank-a.tx", "WRITE")


def test_the_exchange_writes_only_what_its_stages_produce_for_a_tenant() -> None:
    mine = [*exchange_acls(), *exchange_tenant_acls("platform", "acme")]
    mine += exchange_tenant_acls("bank", "bank-a")
    assert allowed(mine, "TOPIC", "ingest.acme.rejected", "WRITE")
    assert allowed(mine, "TOPIC", "banks.bank-a.feed", "WRITE")
    for forged in ["ingest.acme.loans", "ingest.acme.activity", "banks.bank-a.subscriptions"]:
        assert allowed(mine, "TOPIC", forged, "READ")
        assert not allowed(mine, "TOPIC", forged, "WRITE"), forged
    for other in ["ingest.zeta.rejected", "banks.bank-b.feed"]:  # not provisioned here
        assert not allowed(mine, "TOPIC", other, "WRITE")
    granted = exchange_tenant_acls("bank", "bank-a")
    assert all(is_exchange_tenant_acl(a) for a in granted)
    assert not any(is_exchange_tenant_acl(a) for a in exchange_acls() + obsolete_exchange_acls())
    assert not any(a in exchange_acls() for a in obsolete_exchange_acls())


def test_invalid_names_are_refused() -> None:
    for bad in ["", "Acme", "a.b", "a*", "-a"]:
        with pytest.raises(ValueError):
            platform_acls(bad)
        with pytest.raises(ValueError):
            bank_acls(bad)
    with pytest.raises(ValueError):
        exchange_acls("x", "cs.app")


def test_authorizer_semantics() -> None:
    read = Acl("User:u", "TOPIC", "t", "LITERAL", "READ")
    assert allowed([read], "TOPIC", "t", "DESCRIBE")  # implied
    assert not allowed([read], "TOPIC", "t", "WRITE")
    deny = Acl("User:u", "TOPIC", "t", "LITERAL", "READ", "DENY")
    assert not allowed([read, deny], "TOPIC", "t", "READ")


# deploy/k8s/users.yaml's table, asked of this model (names mapped to the same roles).
USERS = {
    "acme": platform_acls("acme"),
    "bank-a": bank_acls("bank-a"),
    "creditstream-exchange": [
        *exchange_acls(EXCHANGE_USER, "creditstream"),
        *exchange_tenant_acls("platform", "acme"),
        *exchange_tenant_acls("bank", "bank-a"),
    ],
}
_TYPES: dict[str, ResourceType] = {
    "topic": "TOPIC", "group": "GROUP", "transactionalId": "TRANSACTIONAL_ID", "cluster": "CLUSTER",
}  # fmt: skip


@pytest.mark.parametrize(("user", "rtype", "name", "op", "ok"), PERMISSIONS)
def test_same_intent_as_the_strimzi_users(
    user: str, rtype: str, name: str, op: str, ok: bool
) -> None:
    operation: Operation = op.upper()  # type: ignore[assignment]
    assert allowed(USERS[user], _TYPES[rtype], name, operation) is ok
