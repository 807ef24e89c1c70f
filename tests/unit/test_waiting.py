"""The one waiting helper: it returns the fact, or fails saying what did not come and why."""

from __future__ import annotations

import itertools

import pytest

from tests.waiting import NotInTimeError, NotYet, eventually


def test_returns_the_first_truthy_answer() -> None:
    answers = iter([None, 0, NotYet("warming up"), {"k": 2}, {"k": 3}])
    assert eventually(lambda: next(answers), what="a dict", timeout=5, interval=0) == {"k": 2}


def test_out_of_time_it_names_the_fact_and_the_last_reason() -> None:
    count = itertools.count()
    expected = r"all read: not within 0.05 s: \d+ of 10 read"
    with pytest.raises(NotInTimeError, match=expected) as failed:
        eventually(lambda: NotYet(f"{next(count)} of 10 read"), what="all read", timeout=0.05)
    assert isinstance(failed.value, AssertionError)  # a test failure, not an error


def test_a_check_is_made_at_least_once_and_its_errors_are_not_swallowed() -> None:
    assert eventually(lambda: "at once", what="x", timeout=0) == "at once"
    with pytest.raises(ZeroDivisionError):
        eventually(lambda: 1 // 0, what="x", timeout=5)


def test_not_yet_is_falsy_and_says_why() -> None:
    assert not NotYet("because") and NotYet("because").why == "because"
