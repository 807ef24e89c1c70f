"""A ratio guard: stop a stage, committing nothing, when nearly every record goes wrong.

Some bad records are normal (a platform sending garbage is refused and counted; an
internal record nobody can decode goes to the dead-letter topic). Nearly everything
failing means broken code or configuration (a wrong key, wrong schemas, a bug upstream),
and stopping then, without committing the batch, loses nothing while a person looks:
``RatioExceededError`` is a ``StageHaltError``, so the worker exits instead of
restarting the stage in place. Pure: no Kafka import.
"""

from __future__ import annotations

from collections import deque

from streams.errors import StageHaltError


class RatioExceededError(StageHaltError):
    """So many recent records went wrong that the code, not the data, is suspect."""


class RatioGuard:
    """Trips when the share of bad records among the last ``window`` reaches ``ratio``.

    ``what`` completes "N of the last W ..." (e.g. "ingest records were rejected");
    ``advice`` says what stops and what to check.
    """

    def __init__(self, ratio: float, window: int, what: str, advice: str) -> None:
        self.ratio = ratio
        self.window = window
        self.what = what
        self.advice = advice
        self._recent: deque[bool] = deque(maxlen=window)
        self._bad = 0

    def observe(self, bad: bool) -> None:
        if len(self._recent) == self.window and self._recent[0]:
            self._bad -= 1
        self._recent.append(bad)
        self._bad += bad

    def check(self) -> None:
        """Raise :class:`RatioExceededError` once a full window is over the ratio."""
        if len(self._recent) == self.window and self._bad >= self.ratio * self.window:
            raise RatioExceededError(
                f"{self._bad} of the last {self.window} {self.what} "
                f"(guard at {self.ratio:.0%}): {self.advice}"
            )
