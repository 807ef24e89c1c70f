"""One package per consumer group.

Ingress, consents, borrower (batch logic, loop, metrics wiring). Only
``streams.worker.lifecycle`` imports these.
"""
