"""``creditstream demo``: the whole exchange on this machine, live in the terminal.

Starts (or reuses) the local broker, creates a pseudonymization key on first use,
starts worker processes and the seeded platform simulator, and redraws what is
happening every second, in place, from the workers' own ``/metrics``: events in per platform,
rejects by reason, profiles updated, alerts, batch latency, deliveries per bank. Two
simulated banks subscribe (through the bank SDK) to a few borrowers of each simulator
round, overlapping, and the screen shows the last records of each bank's feed as the
bank reads them. Ctrl-C stops the simulator, the bank readers, the workers and (if the
demo started it) the broker, leaving nothing behind.

The package's public API is the names below (``streams.cli`` calls :func:`register`).
Its modules, by concept: ``command`` (:func:`cmd_demo`, :func:`register`: the run from
start to stop), ``screen`` (the figures of a refresh, pure, from scraped samples, and
:func:`render`: them as text), ``live`` (them as the terminal's live layout),
``processes`` (the key, the workers, their ports and logs) and ``banks`` (the simulated
banks' subscriptions and feed readers).
"""

from streams.commands.demo.command import cmd_demo, register
from streams.commands.demo.screen import render

__all__ = ["cmd_demo", "register", "render"]
