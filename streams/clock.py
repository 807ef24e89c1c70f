"""Time, defined once: a day in milliseconds and "now" as epoch milliseconds (UTC).

Event time, windows, retention and expiry are all epoch milliseconds in this project;
the wall clock is read only through :func:`now_ms`, so a reader can find every place
that depends on it.
"""

from __future__ import annotations

import time
from typing import Final

#: Milliseconds in a UTC day (no leap seconds in epoch time).
DAY_MS: Final = 86_400_000


def now_ms() -> int:
    """The wall clock as epoch milliseconds."""
    return int(time.time() * 1000)
