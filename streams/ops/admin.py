"""Provision principals, topics and ACLs on a secure broker (the Kafka side of
``creditstream admin``).

Every function takes admin client settings (a super user's SASL credentials) and is
idempotent: running a provisioning twice creates nothing the second time and never
changes an existing user's password unless a password is given explicitly.

A principal is provisioned as ONE thing: platform, bank or exchange. Because platforms
and banks share the ``User:`` namespace, provisioning refuses a principal that already
holds bindings outside the new set (e.g. bank ``acme`` when platform ``acme`` exists),
rather than silently granting it both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from streams.domain import acl
from streams.domain.acl import Acl
from streams.errors import BrokerError, ConfigError
from streams.runtime import provision
from streams.settings import KafkaConf

TIMEOUT_S = 30.0
#: SCRAM iterations: Kafka's minimum is 4096; 8192 is the usual default.
SCRAM_ITERATIONS = 8192
#: Confluent's name for the CLUSTER resource type (same wire code, 4).
_RESOURCE = {
    "TOPIC": ResourceType.TOPIC,
    "GROUP": ResourceType.GROUP,
    "CLUSTER": ResourceType.BROKER,
    "TRANSACTIONAL_ID": ResourceType.TRANSACTIONAL_ID,
}
_RESOURCE_BACK = {v: k for k, v in _RESOURCE.items()}


@dataclass
class Provisioned:
    """What one provisioning did (names only; never a password)."""

    user: str
    user_created: bool
    password_set: bool
    topics_created: list[str] = field(default_factory=list)
    acls_created: list[Acl] = field(default_factory=list)
    acls: list[Acl] = field(default_factory=list)


def _binding_fields(entry: Acl) -> tuple[Any, ...]:
    return (
        _RESOURCE[entry.resource_type],
        entry.resource_name,
        ResourcePatternType[entry.pattern_type],
        entry.principal,
        entry.host,
        AclOperation[entry.operation],
        AclPermissionType[entry.permission],
    )


def to_binding(entry: Acl) -> Any:
    """Our :class:`Acl` as a confluent ``AclBinding``."""
    return AclBinding(*_binding_fields(entry))


def from_binding(binding: Any) -> Acl:
    """A confluent ``AclBinding`` as our :class:`Acl`."""
    return Acl(
        principal=binding.principal,
        resource_type=_RESOURCE_BACK[binding.restype],  # type: ignore[arg-type]
        resource_name=binding.name,
        pattern_type=binding.resource_pattern_type.name,
        operation=binding.operation.name,
        permission=binding.permission_type.name,
        host=binding.host,
    )


def _admin(conf: KafkaConf) -> Any:
    return AdminClient(dict(conf))


def list_acls(conf: KafkaConf, principal: str | None = None) -> list[Acl]:
    """Every ACL binding on the broker, or those of ``principal`` (``User:x``), sorted."""
    # None matches any name/principal/host at runtime; the stubs type them as str.
    any_: Any = None
    flt = AclBindingFilter(
        ResourceType.ANY,
        any_,
        ResourcePatternType.ANY,
        principal if principal is not None else any_,
        any_,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    try:
        # Keep the client referenced until the future resolves: a collected client
        # fails its pending requests with _DESTROY.
        client = _admin(conf)
        found = client.describe_acls(flt, request_timeout=TIMEOUT_S).result(TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerError(f"cannot list ACLs: {exc.args[0]}") from exc
    return sorted(from_binding(b) for b in found)


def require_admin(conf: KafkaConf) -> None:
    """Raise BrokerError unless ``conf``'s principal may ALTER and DESCRIBE the cluster.

    Checked before any SCRAM call: with credentials lacking those rights,
    ``describe_user_scram_credentials`` aborts the whole process inside librdkafka
    (confluent-kafka 2.16.1) instead of reporting CLUSTER_AUTHORIZATION_FAILED.
    """
    client = _admin(conf)
    try:
        cluster = client.describe_cluster(
            include_authorized_operations=True, request_timeout=TIMEOUT_S
        ).result(TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerError(f"cannot reach Kafka to check admin rights: {exc.args[0]}") from exc
    granted = set(cluster.authorized_operations or ())
    if not {AclOperation.ALTER, AclOperation.DESCRIBE} <= granted:
        who = conf.get("sasl.username", "this client")
        raise BrokerError(
            f"CLUSTER_AUTHORIZATION_FAILED: {who} is not an administrator of this cluster "
            "(use the admin credentials)"
        )


def user_exists(conf: KafkaConf, user: str) -> bool:
    """True when ``user`` has SCRAM credentials on the broker."""
    client = _admin(conf)
    futures = client.describe_user_scram_credentials([user], request_timeout=TIMEOUT_S)
    try:
        description = futures[user].result(TIMEOUT_S)
    except KafkaException as exc:
        err = exc.args[0]
        if isinstance(err, KafkaError) and err.code() == KafkaError.RESOURCE_NOT_FOUND:
            return False
        raise BrokerError(f"cannot describe SCRAM user {user}: {err}") from exc
    return bool(description.scram_credential_infos)


def set_password(conf: KafkaConf, user: str, password: str) -> None:
    """Create or update ``user``'s SCRAM-SHA-512 credential."""
    if len(password) < 12:
        raise ConfigError(f"the password of {user} is too short (at least 12 characters)")
    upsert = UserScramCredentialUpsertion(
        user,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
        password.encode(),
    )
    client = _admin(conf)
    futures = client.alter_user_scram_credentials([upsert], request_timeout=TIMEOUT_S)
    try:
        futures[user].result(TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerError(f"cannot set the SCRAM credential of {user}: {exc.args[0]}") from exc


def ensure_acls(
    conf: KafkaConf, wanted: list[Acl], tolerated: Callable[[Acl], bool] | None = None
) -> list[Acl]:
    """Create the missing bindings of ``wanted`` (all of one principal); return them.

    Refuses (ConfigError) when the principal already holds other bindings, except those
    ``tolerated`` accepts: it was provisioned as something else.
    """
    principals = {a.principal for a in wanted}
    if len(principals) != 1:
        raise ValueError("ensure_acls takes the bindings of exactly one principal")
    (who,) = principals
    existing = set(list_acls(conf, who))
    foreign = {a for a in existing - set(wanted) if tolerated is None or not tolerated(a)}
    if foreign:
        raise ConfigError(
            f"{who} already holds {len(foreign)} other ACL binding(s) (e.g. "
            f"{min(foreign).operation} on {min(foreign).resource_name}): it is provisioned "
            "as something else; use another name or remove those ACLs first"
        )
    return grant(conf, sorted(set(wanted) - existing))


def grant(conf: KafkaConf, acls: list[Acl]) -> list[Acl]:
    """Create the bindings of ``acls`` that do not exist yet (any principal); return them."""
    existing = set(list_acls(conf))
    missing = sorted(set(acls) - existing)
    if not missing:
        return []
    client = _admin(conf)
    futures = client.create_acls([to_binding(a) for a in missing], request_timeout=TIMEOUT_S)
    for binding, future in futures.items():
        try:
            future.result(TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(f"cannot create ACL {binding}: {exc.args[0]}") from exc
    return missing


def revoke(conf: KafkaConf, acls: list[Acl]) -> list[Acl]:
    """Delete the bindings of ``acls`` that exist; return them."""
    present = sorted(set(acls) & set(list_acls(conf)))
    if not present:
        return []
    client = _admin(conf)
    filters = [AclBindingFilter(*_binding_fields(a)) for a in present]
    for binding, future in client.delete_acls(filters, request_timeout=TIMEOUT_S).items():
        try:
            future.result(TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(f"cannot delete ACL {binding}: {exc.args[0]}") from exc
    return present


def _provision(
    conf: KafkaConf,
    user: str,
    password: str | None,
    wanted: list[Acl],
    make_topics: Callable[[], list[str]],
    *,
    tolerated: Callable[[Acl], bool] | None = None,
    exchange_rights: list[Acl] | None = None,
) -> Provisioned:
    # Rights, conflicts and a missing password are checked first: a refused
    # provisioning leaves no topic, user or binding behind.
    require_admin(conf)
    foreign = {
        a
        for a in set(list_acls(conf, acl.principal(user))) - set(wanted)
        if tolerated is None or not tolerated(a)
    }
    if foreign:
        ensure_acls(conf, wanted, tolerated)  # raises the conflict error
    exists = user_exists(conf, user)
    if password is None and not exists:
        raise ConfigError(f"user {user} does not exist yet: a password is needed")
    result = Provisioned(user, user_created=not exists, password_set=password is not None)
    result.topics_created = make_topics()
    if password is not None:
        set_password(conf, user, password)
    result.acls_created = ensure_acls(conf, wanted, tolerated)
    result.acls = sorted(wanted)
    if exchange_rights:  # what the exchange may write of this tenant's
        result.acls_created += grant(conf, exchange_rights)
        result.acls = sorted([*wanted, *exchange_rights])
    return result


def provision_platform(
    conf: KafkaConf,
    platform: str,
    partitions: int,
    password: str | None,
    exchange_user: str = acl.EXCHANGE_USER,
) -> Provisioned:
    """User ``platform``, its three topics, :func:`streams.domain.acl.platform_acls`, and
    the exchange's WRITE on the platform's rejects (``exchange_tenant_acls``).

    ``password`` None keeps an existing user's password (an error for a new user).
    """
    return _provision(
        conf,
        platform,
        password,
        acl.platform_acls(platform),
        lambda: provision.ensure_platform(conf, platform, partitions),
        exchange_rights=acl.exchange_tenant_acls("platform", platform, exchange_user),
    )


def provision_bank(
    conf: KafkaConf,
    bank: str,
    partitions: int,
    password: str | None,
    exchange_user: str = acl.EXCHANGE_USER,
) -> Provisioned:
    """User ``bank``, its two topics, :func:`streams.domain.acl.bank_acls`, and the
    exchange's WRITE on the bank's feed (see above)."""
    return _provision(
        conf,
        bank,
        password,
        acl.bank_acls(bank),
        lambda: provision.ensure_bank(conf, bank, partitions),
        exchange_rights=acl.exchange_tenant_acls("bank", bank, exchange_user),
    )


def provision_exchange(
    conf: KafkaConf,
    partitions: int,
    password: str | None,
    *,
    user: str = acl.EXCHANGE_USER,
    app_id: str = "creditstream",
) -> Provisioned:
    """The exchange's user, its own topics and :func:`streams.domain.acl.exchange_acls`
    (the WRITE it holds on tenants' topics, granted when they were provisioned, stays;
    the prefix-wide WRITE of releases before issue 17 goes)."""
    require_admin(conf)
    revoke(conf, acl.obsolete_exchange_acls(user))
    return _provision(
        conf,
        user,
        password,
        acl.exchange_acls(user, app_id),
        lambda: provision.ensure(conf, provision.exchange_topics(partitions)),
        tolerated=lambda a: acl.is_exchange_tenant_acl(a, user),
    )
