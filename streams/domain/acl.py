"""The exchange's ACL model: which principal may do what, as plain data (no Kafka import).

Tenant identity comes from the topic, so isolation is a set of broker ACLs over topic
names (see ``../shared/DESIGN.md``, "Tenant identity comes from the topic"). The secure
broker denies everything without an ACL (``allow.everyone.if.no.acl.found=false``); each
function below returns the complete allow-list of one principal, and
``streams.ops.admin`` turns it into Kafka ``AclBinding``s.

Decisions (each checked against Apache Kafka 4.3.1 by
``tests/integration/test_security_matrix.py``):

* A tenant's rights on its topics follow the topology (``streams.topology.TOPOLOGY``:
  each tenant topic declares whether its tenant writes or reads it).
* A platform gets WRITE on its two ingest topics by LITERAL name, not on the prefix
  ``ingest.P.``: the prefix would include ``ingest.P.rejected``, which only the exchange
  writes (a platform forging its own rejects would corrupt what it is told).
* Idempotent producers (the platform and bank SDKs) need no cluster IDEMPOTENT_WRITE:
  since Kafka 3.0 (KIP-679) InitProducerId without a transactional.id is authorized by
  WRITE on any topic. So tenants get nothing on the cluster resource.
* READ/WRITE imply DESCRIBE in Kafka; DESCRIBE is still listed on topics, as in
  ``deploy/k8s/users.yaml``, so a listing reads plainly.
* Consumer groups of a tenant are PREFIXED ``<tenant>.``; tenant names cannot contain a
  dot, so ``a.`` never matches the groups of tenant ``ab`` or ``a-b``.
* The exchange may CREATE only its own topics (``exchange.``); platform and bank topics
  are created by the admin at provisioning.
* The exchange READs every tenant's topics by prefix (``ingest.``, ``banks.``: a new
  tenant's input is read without touching the worker) but WRITEs only the tenant topics
  its stages produce, by LITERAL name, granted when the tenant is provisioned
  (:func:`exchange_tenant_acls`: ``ingest.P.rejected``, ``banks.B.feed``). With WRITE on
  the prefixes it could have forged any platform's loans or any bank's subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams import topics, topology

ResourceType = Literal["TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID"]
PatternType = Literal["LITERAL", "PREFIXED"]
Operation = Literal[
    "READ",
    "WRITE",
    "CREATE",
    "DELETE",
    "ALTER",
    "DESCRIBE",
    "DESCRIBE_CONFIGS",
    "ALTER_CONFIGS",
    "IDEMPOTENT_WRITE",
]
Permission = Literal["ALLOW", "DENY"]

#: The only name a CLUSTER resource has in Kafka.
CLUSTER_NAME = "kafka-cluster"
#: The exchange's SASL user by default (the KafkaUser in ``deploy/k8s/users.yaml``).
EXCHANGE_USER = "creditstream-exchange"


@dataclass(frozen=True, order=True, slots=True)
class Acl:
    """One ACL binding. ``principal`` is ``User:<name>``; any host."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    operation: Operation
    permission: Permission = "ALLOW"
    host: str = "*"

    def matches(self, resource_type: ResourceType, name: str) -> bool:
        """True when this binding's resource pattern covers ``name`` (no wildcards used)."""
        if resource_type != self.resource_type:
            return False
        if self.pattern_type == "PREFIXED":
            return name.startswith(self.resource_name)
        return name == self.resource_name


def principal(user: str) -> str:
    """The Kafka principal of a SASL user."""
    return f"User:{user}"


def _check_tenant(kind: str, name: str) -> None:
    if not topics.valid_tenant(name):
        raise ValueError(f"invalid {kind} name {name!r}: use a-z, 0-9 and '-'")


def _allow(
    who: str,
    resource_type: ResourceType,
    name: str,
    pattern: PatternType,
    *operations: Operation,
) -> list[Acl]:
    return [Acl(who, resource_type, name, pattern, op) for op in operations]


def _tenant_topics(who: str, owner: topology.Owner, tenant: str) -> list[Acl]:
    """WRITE or READ (with DESCRIBE) on each of the tenant's topics, by literal name,
    as the topology declares (``Topic.tenant_access``)."""
    grant: dict[str | None, Operation] = {"write": "WRITE", "read": "READ"}
    return [
        acl
        for t in topology.TOPOLOGY.owned_by(owner)
        for acl in _allow(
            who, "TOPIC", t.named(tenant), "LITERAL", grant[t.tenant_access], "DESCRIBE"
        )
    ]


def platform_acls(platform: str) -> list[Acl]:
    """Platform P: write its two ingest topics, read its rejects in groups ``P.*``."""
    _check_tenant("platform", platform)
    who = principal(platform)
    return [
        *_tenant_topics(who, "platform", platform),
        *_allow(who, "GROUP", f"{platform}.", "PREFIXED", "READ"),
    ]


def bank_acls(bank: str) -> list[Acl]:
    """Bank B: write its subscriptions, read its feed in groups ``B.*``."""
    _check_tenant("bank", bank)
    who = principal(bank)
    return [
        *_tenant_topics(who, "bank", bank),
        *_allow(who, "GROUP", f"{bank}.", "PREFIXED", "READ"),
    ]


def exchange_acls(user: str = EXCHANGE_USER, app_id: str = "creditstream") -> list[Acl]:
    """The exchange worker: everything the pipeline does, and nothing an admin does.

    Its stages use consumer groups and transactional ids ``<app_id>-<stage>...`` (and
    ``<app_id>-replay-...`` groups that never join, for changelog replay). Faust runs no
    Kafka client of its own (``streams.worker.app``), so it needs no group or topic.
    """
    if not app_id or "." in app_id:
        # A dot would let the exchange's prefixes overlap a tenant's ``name.`` groups.
        raise ValueError(f"invalid app id {app_id!r}: must be non-empty, without '.'")
    who = principal(user)
    own: tuple[Operation, ...] = ("READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS")
    return [
        # Read every platform's ingest topics and every bank's subscriptions; what it
        # writes there is granted per tenant (exchange_tenant_acls).
        *_allow(who, "TOPIC", "ingest.", "PREFIXED", "READ", "DESCRIBE"),
        *_allow(who, "TOPIC", "banks.", "PREFIXED", "READ", "DESCRIBE"),
        # Its own topics, created idempotently at worker start.
        *_allow(who, "TOPIC", "exchange.", "PREFIXED", *own),
        *_allow(who, "GROUP", f"{app_id}-", "PREFIXED", "READ"),
        *_allow(who, "TRANSACTIONAL_ID", f"{app_id}-", "PREFIXED", "WRITE", "DESCRIBE"),
        # Not needed by Kafka >= 3 (WRITE on a topic suffices) but harmless and kept for
        # clients that still ask for it; matches deploy/k8s/users.yaml.
        *_allow(who, "CLUSTER", CLUSTER_NAME, "LITERAL", "IDEMPOTENT_WRITE"),
    ]


def exchange_tenant_acls(
    owner: topology.Owner, tenant: str, user: str = EXCHANGE_USER
) -> list[Acl]:
    """WRITE (and DESCRIBE) for the exchange on the topics of ``tenant`` that a stage
    produces (``ingest.P.rejected``, ``banks.B.feed``), by literal name."""
    _check_tenant(owner, tenant)
    written = {n for s in topology.TOPOLOGY.stages for n in s.writes}
    return [
        acl
        for t in topology.TOPOLOGY.owned_by(owner)
        if t.name in written
        for acl in _allow(principal(user), "TOPIC", t.named(tenant), "LITERAL", "WRITE", "DESCRIBE")
    ]


def is_exchange_tenant_acl(entry: Acl, user: str = EXCHANGE_USER) -> bool:
    """True for a binding :func:`exchange_tenant_acls` grants to ``user`` for some tenant
    (what re-provisioning the exchange must not mistake for foreign rights)."""
    if entry.principal != principal(user) or entry.pattern_type != "LITERAL":
        return False
    if entry.resource_type != "TOPIC" or entry.operation not in ("WRITE", "DESCRIBE"):
        return False
    written = {n for s in topology.TOPOLOGY.stages for n in s.writes}
    return any(
        t.per_tenant and t.name in written and t.matches(entry.resource_name)
        for t in topology.TOPOLOGY.topics
    )


def obsolete_exchange_acls(user: str = EXCHANGE_USER) -> list[Acl]:
    """What releases before issue 17 granted the exchange: WRITE on every tenant topic
    (provisioning the exchange removes them)."""
    who = principal(user)
    return [
        *_allow(who, "TOPIC", "ingest.", "PREFIXED", "WRITE"),
        *_allow(who, "TOPIC", "banks.", "PREFIXED", "WRITE"),
    ]


def allowed(acls: list[Acl], resource_type: ResourceType, name: str, operation: Operation) -> bool:
    """Kafka's authorizer over ALLOW bindings: DENY wins; READ/WRITE/DELETE/ALTER imply
    DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS (as in Kafka's AclAuthorizer)."""
    implied: dict[Operation, set[Operation]] = {
        "DESCRIBE": {"DESCRIBE", "READ", "WRITE", "DELETE", "ALTER"},
        "DESCRIBE_CONFIGS": {"DESCRIBE_CONFIGS", "ALTER_CONFIGS"},
    }
    grants = implied.get(operation, {operation})
    matching = [a for a in acls if a.matches(resource_type, name)]
    if any(a.permission == "DENY" and a.operation == operation for a in matching):
        return False
    return any(a.permission == "ALLOW" and a.operation in grants for a in matching)
