"""The borrower stage: exchange.events and exchange.consents in; feeds, audit, profiles out.

One exactly-once stage per borrower partition (``stage``): ``events`` decodes, ``fold``
folds a batch's events per borrower (the profile half), ``batch`` applies consents and
delivers (the whole batch), ``entry`` is the per-borrower state and its record,
``records``/``bodies``/``binary`` the profile byte formats, ``store`` the local state,
``observe`` the metrics and ``service`` its hosting in the worker.
"""
