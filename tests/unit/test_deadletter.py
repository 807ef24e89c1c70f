"""Dead letters keep the record whole and say where it was, which stage and why."""

from __future__ import annotations

import pytest

from streams.errors import DecodeError
from streams.runtime.deadletter import MESSAGE_MAX, dead_letter, dead_letter_guard
from streams.runtime.guard import RatioExceededError
from streams.wire.rejects import H_STAGE, from_headers


class Msg:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def topic(self) -> str:
        return "exchange.events"

    def partition(self) -> int:
        return 3

    def offset(self) -> int:
        return 41

    def value(self) -> bytes:
        return self._value


def test_a_dead_letter_round_trips_through_its_headers() -> None:
    exc = DecodeError("UNKNOWN_SCHEMA", "fingerprint 00ff is not a known schema", b"x")
    letter = dead_letter("profiles", Msg(b"\xc3\x01junk"), exc, 1_000)  # type: ignore[arg-type]
    assert letter.key == "exchange.events:3:41"
    back = from_headers(letter.headers(), letter.original)
    assert back == letter
    assert (back.stage, back.reason, back.original) == (
        "profiles",
        "UNKNOWN_SCHEMA",
        b"\xc3\x01junk",
    )


def test_any_other_decoding_failure_is_malformed_and_its_message_is_short() -> None:
    letter = dead_letter("fanout", Msg(b"{}"), KeyError("x" * 1000), 1)  # type: ignore[arg-type]
    assert letter.reason == "MALFORMED"
    assert letter.message.startswith("KeyError: ") and len(letter.message) == MESSAGE_MAX


def test_a_platform_reject_has_no_stage_header() -> None:
    letter = dead_letter("fanout", Msg(b"{}"), ValueError("bad"), 1)  # type: ignore[arg-type]
    plain = from_headers([h for h in letter.headers() if h[0] != H_STAGE], b"{}")
    assert plain.stage == ""


def test_the_guard_stops_a_stage_when_nearly_everything_is_a_dead_letter() -> None:
    guard = dead_letter_guard("fanout", ratio=0.9, window=10)
    for _ in range(10):
        guard.observe(False)
    guard.check()
    for _ in range(9):
        guard.observe(True)
    with pytest.raises(RatioExceededError, match="9 of the last 10 records fanout read"):
        guard.check()
