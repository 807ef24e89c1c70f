"""The consent stage: banks' subscription requests in, pseudonymized requests out."""
