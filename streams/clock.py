"""Time, defined once: a day in milliseconds and "now" as epoch milliseconds (UTC).

Event time, windows, retention and expiry are all epoch milliseconds in this project;
the wall clock is read only through :func:`now_ms`, so a reader can find every place
that depends on it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final

#: Milliseconds in a UTC day (no leap seconds in epoch time).
DAY_MS: Final = 86_400_000


def now_ms() -> int:
    """The wall clock as epoch milliseconds."""
    return int(time.time() * 1000)


def iso_ms(ms: int) -> str:
    """``ms`` as ISO-8601 UTC to the second (``2026-12-06T14:00:00Z``); a value beyond
    the year 9999 (still a valid long) as ``"<ms> ms after the epoch"``."""
    try:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms after the epoch"
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
