"""Waiting on facts, the one way tests wait (never a fixed sleep used as synchronisation).

``eventually(check, what=..., timeout=...)`` calls ``check`` until it answers something
truthy and returns that answer. A falsy answer means "not yet"; ``NotYet("why")`` is a
falsy answer that also says why, and the last reason is in the failure. ``check`` is
called at least once, and once more after the deadline passed (a slow check still gets
its last look); exceptions from ``check`` are not caught: a check that may meet a
transient error handles it and answers ``NotYet``. Out of time, ``eventually`` raises
``NotInTimeError`` (an ``AssertionError``) naming ``what``, the timeout and the last reason.

    got = eventually(lambda: worker_metric(...), what="the gauge is exported", timeout=60)
    eventually(lambda: NotYet(f"{n} of 10 read") if n < 10 else True, what="all read")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar, cast

T = TypeVar("T")


class NotYet:
    """A "not yet" answer of a check, with the reason (falsy)."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"NotYet({self.why!r})"


class NotInTimeError(AssertionError):
    """A fact ``eventually`` waited on did not come within its timeout."""


def eventually(
    check: Callable[[], T | NotYet | None],
    *,
    what: str,
    timeout: float = 90.0,
    interval: float = 0.2,
) -> T:
    """The first truthy answer of ``check`` (see the module doc); ``NotInTimeError`` if none
    came within ``timeout`` seconds. ``interval`` is the pause between two checks."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return cast(T, got)  # truthy: neither None nor a NotYet
        if time.monotonic() >= deadline:
            why = f": {got.why}" if isinstance(got, NotYet) else ""
            raise NotInTimeError(f"{what}: not within {timeout:g} s{why}")
        time.sleep(interval)
