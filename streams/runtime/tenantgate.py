"""A tenant's partitions wait until provisioning has made the topic its answers go to.

Stages subscribe by regex to every tenant's input topics (``ingest.P.loans|activity``,
``banks.B.subscriptions``) but write some of their answers to another topic of the same
tenant (``ingest.P.rejected``, ``banks.B.feed``). Those topics are made by provisioning
(``creditstream admin provision-platform|provision-bank``), never by a stage: the
exchange's principal holds no CREATE on tenant topics (``streams.domain.acl``), and Kafka checks
CREATE before existence, so even "create if missing" of an existing topic is refused.

Contract of :class:`TenantGate`:

1. ``assign(consumer, partitions)`` (from the stage's ``on_assign``) assigns every
   partition and pauses those of a tenant whose required topics are missing, logging one
   error line per tenant that names the command to run. Nothing of that tenant is read,
   so nothing is refused or lost: its records wait in Kafka (visible as lag).
2. ``recheck(consumer)`` (from the stage's tick) resumes a tenant once its topics exist.
3. ``revoke(partitions)`` (from ``on_revoke``) forgets partitions the stage gave up.

``report(stage, tenant, paused_partitions)`` exports the state (0 when resumed).

Which topics exist is asked of a separate admin client (``conf``), never of the stage's
consumer: step 1 runs inside the consumer's rebalance callback, and a blocking call on
the same client there (``list_topics``) leaves confluent-kafka without its per-call
state for the rest of that ``consume()`` call; the next callback in it then aborts the
process (``CallState_get: Assertion `cs != NULL'``, seen in the README and chaos runs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.settings import KafkaConf

log = logging.getLogger(__name__)

#: ``report(stage, tenant, paused)``: how many partitions of ``tenant`` wait (0 = none).
Report = Callable[[str, str, int], None]


class TenantGate:
    """Pauses the partitions of tenants whose required topics are missing; see module doc."""

    def __init__(
        self,
        stage: str,
        tenant_of: Callable[[str], str | None],
        required: Callable[[str], list[str]],
        provision_hint: str,
        conf: KafkaConf,
        report: Report | None = None,
    ) -> None:
        self.stage = stage
        self._tenant_of = tenant_of
        self._required = required
        self._hint = provision_hint
        self.report = report
        self._conf = conf
        self._admin: AdminClient | None = None  # made on first use: none without tenants
        #: Paused partitions by tenant.
        self.waiting: dict[str, set[tuple[str, int]]] = {}

    def assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Assign ``partitions`` and pause those of unprovisioned tenants (step 1)."""
        consumer.assign(partitions)
        # librdkafka keeps a partition's pause across a revoke and re-assign: resume all,
        # then pause what must wait now.
        consumer.resume(partitions)
        by_tenant: dict[str, set[tuple[str, int]]] = {}
        for tp in partitions:
            tenant = self._tenant_of(tp.topic)
            if tenant is not None:
                by_tenant.setdefault(tenant, set()).add((tp.topic, tp.partition))
        if not by_tenant:
            return
        existing = self._topics()
        for tenant, parts in sorted(by_tenant.items()):
            missing = [t for t in self._required(tenant) if t not in existing]
            if not missing:
                continue
            consumer.pause([TopicPartition(t, p) for t, p in sorted(parts)])
            fresh = tenant not in self.waiting
            self.waiting.setdefault(tenant, set()).update(parts)
            if fresh:
                log.error(
                    "%s: %s is not provisioned (missing %s): its records wait unread; "
                    "run `creditstream admin %s %s`",
                    self.stage,
                    tenant,
                    ", ".join(missing),
                    self._hint,
                    tenant,
                )
            self._report(tenant)

    def recheck(self, consumer: Consumer) -> None:
        """Resume every waiting tenant whose required topics now exist (step 2)."""
        if not self.waiting:
            return
        existing = self._topics()
        for tenant in sorted(self.waiting):
            if all(t in existing for t in self._required(tenant)):
                parts = self.waiting.pop(tenant)
                consumer.resume([TopicPartition(t, p) for t, p in sorted(parts)])
                log.info("%s: %s is provisioned now: reading its records", self.stage, tenant)
                self._report(tenant)

    def revoke(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget revoked partitions (step 3)."""
        gone = {(tp.topic, tp.partition) for tp in partitions}
        for tenant in list(self.waiting):
            self.waiting[tenant] -= gone
            if not self.waiting[tenant]:
                del self.waiting[tenant]
            self._report(tenant)

    def _topics(self) -> set[str]:
        if self._admin is None:
            self._admin = AdminClient(dict(self._conf))
        return set(self._admin.list_topics(timeout=10).topics)

    def _report(self, tenant: str) -> None:
        if self.report is not None:
            self.report(self.stage, tenant, len(self.waiting.get(tenant, ())))
