"""The fan-out stage: profile updates and consents in, bank feeds and audit records out."""
