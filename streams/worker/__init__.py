"""The worker process.

The Faust app, its lifecycle and web endpoints (``/metrics``, ``/ready``).
"""
