"""Garbage-collector policy for a worker whose state is large and long-lived.

CPython's cyclic collector walks every tracked container of the generation it collects.
A profile worker holds millions of them (decoded borrower states) that live for hours,
and each batch adds ~100 k short-lived ones; with the default thresholds the collector
ran ~3x as long as the fold itself (DESIGN.md), and even with a large gen-0 threshold it
cost 6-8 us per event (``bench/bench_profile.py``, ``of_which_gc``).

The policy (:class:`FreezingGc`):

* a large gen-0 threshold, so young objects are examined after a batch has been
  folded, not in the middle of it;
* after every committed batch, ``gc.freeze()``: whatever is alive then (the states just
  committed, and whatever the other stages of the worker hold) moves to the permanent
  generation, which no automatic collection walks. Freezing is O(1) (a list splice).
  Reference counting still frees frozen objects as soon as they are unreferenced, so
  memory is not held by it; only *cyclic* garbage among frozen objects waits;
* every ``full_every_s`` seconds (setting ``gc_full_collect_every_s``), and on demand
  (after a restore), ``gc.unfreeze()``, a full collection and a new freeze: that
  reclaims such cycles, so memory stays bounded whatever the other stages allocate.
  The pause is a walk of everything, paid once per period instead of spread over every
  event: ``bench/bench_profile.py --rss-borrowers 1000000`` measured 3.0 s with the
  default 200 000 decoded states and 12.7 s with a million (then raise the period, and
  keep the transaction timeout above the pause: the borrower stage collects between
  transactions, the worker's other stages may be inside one).

The collector settings are process-wide: one policy object per process is enough, and
it also serves the worker's other stages (their young objects are frozen with the
borrower stage's).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

from streams.settings import FULL_COLLECT_EVERY_S

log = logging.getLogger(__name__)
#: Gen-0 threshold while running: the live state is large and mostly long-lived.
GC_THRESHOLD = (200_000, 20, 100)
#: Seconds between full collections (reclaiming cycles that were frozen alive). A
#: worker under load left ~30 unreachable objects a second waiting (the end-to-end
#: benchmark with the period at 15 s: 52, 838, 444 per collection), so half an hour
#: holds a few MB; each collection pauses the worker (see the module docstring).


class FreezingGc:
    """Apply the module's policy. Called from one thread (the borrower stage's: its
    batches and its rebalance callbacks both run there)."""

    def __init__(
        self,
        full_every_s: float = FULL_COLLECT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.full_every_s = full_every_s
        self._clock = clock
        self._last_full = clock()
        self.full_collections = 0
        self.full_seconds = 0.0  # time spent in full collections so far

    def start(self) -> None:
        """Set the thresholds and start from a fully collected, frozen heap."""
        gc.set_threshold(*GC_THRESHOLD)
        self.full()

    def committed(self) -> None:
        """Call after each committed batch: freeze, or collect fully when it is time."""
        if self._clock() - self._last_full >= self.full_every_s:
            self.full()
        else:
            gc.freeze()

    def full(self) -> float:
        """Unfreeze, collect every generation, freeze again; returns the seconds spent."""
        began = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        spent = time.perf_counter() - began
        self._last_full = self._clock()
        self.full_collections += 1
        self.full_seconds += spent
        # The whole worker waits for it (the GIL); what it found is what waited frozen:
        # the figures to tune the period by (setting gc_full_collect_every_s).
        log.info("full garbage collection: %d unreachable objects, %.2fs", found, spent)
        return spent
