"""One package per consumer group.

Ingress, profiles, consents, fanout (batch logic, loop, metrics wiring). Only
``streams.worker.lifecycle`` imports these.
"""
