"""The worker's status page: what it is doing, for operators, and a regulator's lookup.

Served by the worker's own web server (``/status``, ``/status.json``,
``POST /status/lookup``); see :mod:`streams.worker.status.views`. Modules, by concept:
``model`` and ``history`` (pure: the registry's samples as the page shows them, and the
last minutes as charts), ``access`` (the regulator's credential and form), ``readers``
(what is read from Kafka: objections, a person's deliveries), ``views`` (the routes),
``static/`` (the page, its script and style, shipped in the package).
"""

from streams.worker.status.views import install_status

__all__ = ["install_status"]
