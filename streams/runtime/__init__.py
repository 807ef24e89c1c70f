"""The exactly-once machinery on confluent-kafka.

Transactions and the stage loop helpers, hosting and restart, worker identity, GC
policy, provisioning, tenant gating, topic readers, metrics.
"""
