"""The bytes on topics.

Avro schemas, the codec (single-object and Confluent framing), human JSON, the rejected-
record contract, event dataclasses. No Kafka client import.
"""
