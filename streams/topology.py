"""The topology, declared once: every stage and every topic, and what must line up.

Contract:

* :data:`TOPOLOGY` lists each :class:`Stage` (inputs, outputs, changelog, consumer group,
  partitioning key, co-partitioned topics) and each :class:`Topic` (key, cleanup and
  retention, partition rule, owner and the owning tenant's access). Topic names come
  from :mod:`streams.topics`; a per-tenant topic is declared once as a template
  (``ingest.{platform}.loans``) and :meth:`Topic.named` / :meth:`Topic.matches` map it
  to and from a tenant's topic.
* :meth:`Topology.as_dict` is the same as plain data (``creditstream topology --json``).

Provisioning (``streams.runtime.provision``), the tenants' ACLs (``streams.domain.acl``),
each stage's start-up check (``streams.runtime.clients.stage_clients``), ``creditstream
topology`` (``streams.commands.topology``, which prints it) and the README's Architecture
diagram (checked by tests/unit/test_topology.py) all read it. It lives among the
top-level facts, so that every layer may read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from streams.clock import DAY_MS
from streams.topics import (
    BORROWER_STATE,
    CONSENTS,
    DEAD_LETTER,
    EXCHANGE_AUDIT,
    EXCHANGE_EVENTS,
    EXCHANGE_PROFILES,
    INGRESS_DEDUP,
    PROFILE_UPDATES,
    REPORTS,
    REQUESTS,
    RIGHTS_LOG,
    TENANT_RE,
)

#: Compacted: the latest record per key is kept forever.
COMPACT: Mapping[str, str] = MappingProxyType(
    {"cleanup.policy": "compact", "min.compaction.lag.ms": str(60_000)}
)
#: How long a state changelog keeps a tombstone after compaction reached it: a local
#: store last written longer ago than this may have missed a deletion, so recovery
#: wipes one older than half of it (``stages.borrower.recovery.replay_start``).
TOMBSTONE_RETENTION_MS = 86_400_000
#: A stage's state changelog: compacted; tombstones kept a day for restoring readers.
CHANGELOG: Mapping[str, str] = MappingProxyType(
    dict(COMPACT) | {"delete.retention.ms": str(TOMBSTONE_RETENTION_MS)}
)


def delete_after(days: int) -> Mapping[str, str]:
    """Append-only, records deleted after ``days``."""
    return MappingProxyType({"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)})


Owner = Literal["exchange", "platform", "bank"]
Access = Literal["write", "read"]
PartitionRule = Literal["setting", "pinned", "tenant"]

#: What each partition rule means (``creditstream topology`` prints it).
PARTITION_RULES: Mapping[PartitionRule, str] = MappingProxyType(
    {
        "setting": "created with CREDITSTREAM_PARTITIONS (provision-exchange --partitions)",
        "pinned": "must equal CREDITSTREAM_PARTITIONS: the stage computes partition numbers "
        "from the setting (checked at start)",
        "tenant": "created per tenant by provisioning (--partitions); any count works",
    }
)


@dataclass(frozen=True)
class Topic:
    """One topic, or one topic per tenant when ``owner`` is a platform or a bank
    (``name`` is then a template with ``{platform}`` or ``{bank}``)."""

    name: str
    key: str
    config: Mapping[str, str]
    partitions: PartitionRule
    about: str
    owner: Owner = "exchange"
    #: What the owning tenant may do with its topic (ACLs); None for exchange topics.
    tenant_access: Access | None = None
    #: The command that writes the topic when no stage does (None: a stage does).
    written_by: str | None = None

    @property
    def per_tenant(self) -> bool:
        return self.owner != "exchange"

    def named(self, tenant: str) -> str:
        """The topic of ``tenant`` (the name itself for an exchange topic)."""
        return self.name.format(platform=tenant, bank=tenant)

    @property
    def display(self) -> str:
        """``ingest.<platform>.loans`` for a per-tenant topic, else the name."""
        return self.name.format(platform="<platform>", bank="<bank>")

    @property
    def pattern(self) -> str:
        """The librdkafka regex subscription (leading ``^``) or the literal name."""
        if not self.per_tenant:
            return self.name
        literal = re.escape(self.name).replace(r"\{", "{").replace(r"\}", "}")
        return "^" + literal.format(platform=TENANT_RE, bank=TENANT_RE) + "$"

    def matches(self, topic: str) -> bool:
        if not self.per_tenant:
            return topic == self.name
        return re.fullmatch(self.pattern[1:-1], topic) is not None


@dataclass(frozen=True)
class Stage:
    """One exactly-once stage: what it reads, writes and keeps, and what must line up.

    ``copartitioned``: sets of topics whose partition p this stage treats as one unit
    (joined by key, or state written to the input's partition); their partition counts
    must be equal, which ``stage_clients`` checks at start.
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    changelog: str | None
    group_suffix: str
    key: str
    about: str
    copartitioned: tuple[tuple[str, ...], ...] = ()

    def group(self, app_id: str) -> str:
        """The consumer group (and transactional id prefix) of this stage."""
        return f"{app_id}-{self.group_suffix}"

    @property
    def writes(self) -> tuple[str, ...]:
        """Outputs and the changelog."""
        return self.outputs + ((self.changelog,) if self.changelog else ())


@dataclass(frozen=True)
class Topology:
    topics: tuple[Topic, ...]
    stages: tuple[Stage, ...]

    def topic(self, name: str) -> Topic:
        """The declaration of ``name`` (a declared name or template, or a tenant's topic)."""
        for t in self.topics:
            if name in (t.name, t.display) or t.matches(name):
                return t
        raise KeyError(name)

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def owned_by(self, owner: Owner) -> list[Topic]:
        return [t for t in self.topics if t.owner == owner]

    def as_dict(self) -> dict[str, Any]:
        """Plain data (``creditstream topology --json``)."""
        return {
            "stages": [
                {
                    "name": s.name,
                    "group": s.group("<app_id>"),
                    "inputs": [self.topic(n).display for n in s.inputs],
                    "outputs": [self.topic(n).display for n in s.outputs],
                    "changelog": s.changelog,
                    "key": s.key,
                    "copartitioned": [list(c) for c in s.copartitioned],
                    "about": s.about,
                }
                for s in self.stages
            ],
            "topics": [
                {
                    "name": t.display,
                    "owner": t.owner,
                    "key": t.key,
                    "config": dict(t.config),
                    "partitions": t.partitions,
                    "tenant_access": t.tenant_access,
                    "about": t.about,
                    "written_by": t.written_by,
                }
                for t in self.topics
            ],
        }


TOPOLOGY = Topology(
    topics=(
        Topic(EXCHANGE_EVENTS, "borrower_id", delete_after(30), "setting",
              "validated, pseudonymized events (no raw IDs)"),
        Topic(EXCHANGE_PROFILES, "borrower_id", COMPACT, "setting",
              "latest profile per borrower"),
        # Audit is evidence: long retention (10 years), never compacted.
        Topic(EXCHANGE_AUDIT, "borrower_id", delete_after(3650), "setting",
              "one hash-chained record per delivery; a chain per partition"),
        Topic(INGRESS_DEDUP, "source and event_id", CHANGELOG, "pinned",
              "ingress changelog: event_ids seen per ingest partition"),
        # The borrower stage's only durable memory: compacted, never aged out.
        Topic(BORROWER_STATE, "borrower_id", CHANGELOG, "setting",
              "borrower changelog: fold state, subscriptions, last update per borrower"),
        Topic(PROFILE_UPDATES, "borrower_id", delete_after(14), "setting",
              "every profile update (material change or alert) in version order"),
        # Requests are applied within seconds; the durable consent state is borrower-state.
        Topic(CONSENTS, "borrower_id", delete_after(14), "setting",
              "validated, pseudonymized consents"),
        # Metering of the right to one's own record: a year and a month is enough.
        Topic(REPORTS, "borrower_id", delete_after(400), "setting",
              "one record per report a borrower was given (two free a year)",
              written_by="creditstream report"),
        # Applied within seconds; the durable dispute state is borrower-state.
        Topic(REQUESTS, "borrower_id", delete_after(30), "setting",
              "borrowers' requests (objections, erasures), pseudonymized",
              written_by="creditstream dispute open, creditstream erase"),
        # Evidence for the supervisor, like the audit log: 10 years, never compacted.
        Topic(RIGHTS_LOG, "borrower_id", delete_after(3650), "setting",
              "every exercise of a borrower's right: objections and their outcome, erasures"),
        Topic(DEAD_LETTER, "source offset", delete_after(30), "setting",
              "internal records a stage could not decode: bytes + stage, source, reason"),
        # Raw PII: short retention.
        Topic("ingest.{platform}.loans", "platform's user key", delete_after(7), "tenant",
              "LoanEvent from the platform (raw national IDs)", "platform", "write"),
        Topic("ingest.{platform}.activity", "platform's user key", delete_after(7), "tenant",
              "ActivityEvent from the platform (raw national IDs)", "platform", "write"),
        Topic("ingest.{platform}.rejected", "source offset", delete_after(30), "tenant",
              "original bytes + reason, for the platform to read", "platform", "read"),
        # A platform has 20 days to answer; it keeps the record of what it was asked.
        Topic("platforms.{platform}.disputes", "dispute_id", delete_after(400), "tenant",
              "objections against the platform's records, and their outcomes",
              "platform", "read"),
        Topic("banks.{bank}.subscriptions", "customer_ref", COMPACT, "tenant",
              "the bank's subscription requests (consents)", "bank", "write"),
        Topic("banks.{bank}.feed", "customer_ref", delete_after(14), "tenant",
              "profiles, alerts, acks and refusals for the bank", "bank", "read"),
    ),
    stages=(
        Stage(
            "ingress",
            inputs=("ingest.{platform}.loans", "ingest.{platform}.activity"),
            outputs=(EXCHANGE_EVENTS, "ingest.{platform}.rejected"),
            changelog=INGRESS_DEDUP,
            group_suffix="ingress",
            key="platform's user key in, borrower_id out",
            about="decode, validate, dedup, pseudonymize (HMAC) every platform's events",
        ),
        Stage(
            "consents",
            inputs=("banks.{bank}.subscriptions",),
            outputs=(CONSENTS, "banks.{bank}.feed"),
            changelog=None,
            group_suffix="consents",
            key="customer_ref in, borrower_id out",
            about="validate and pseudonymize banks' subscriptions; refusals to the feed",
        ),
        Stage(
            "borrower",
            inputs=(EXCHANGE_EVENTS, CONSENTS, REQUESTS),
            outputs=(EXCHANGE_PROFILES, PROFILE_UPDATES, "banks.{bank}.feed", EXCHANGE_AUDIT,
                     "platforms.{platform}.disputes", RIGHTS_LOG, DEAD_LETTER),
            changelog=BORROWER_STATE,
            group_suffix="borrower",
            key="borrower_id in, customer_ref out",
            about="fold events into profiles and alerts; apply consents, objections and "
                  "erasures; deliver to banks, each delivery with an audit record",
            copartitioned=((EXCHANGE_EVENTS, CONSENTS, REQUESTS, BORROWER_STATE,
                            EXCHANGE_AUDIT),),
        ),
    ),
)  # fmt: skip
