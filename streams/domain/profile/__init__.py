"""All the rolling-profile math.

Configuration and windows, the persisted state, the fold (activity, loans, corrections),
the credit and activity views, alerts, the read model and its bank-facing output, and
the oracle that recomputes it from scratch.
"""
