"""Pure rules, no Kafka or Faust import.

The profile fold, validation, privacy, consent, delivery, audit, billing, ACLs.
"""
