"""Ingress: platform records in, validated pseudonymized events or rejects out.

``process`` holds the pure per-record logic, ``dedup`` the event_id memory, and
``stage`` the exactly-once Kafka loop that runs them inside a worker.
"""
