"""Filing a borrower's request refuses what cannot be filed before touching Kafka.

The checks come first, so an operator's mistake is one clear error and nothing is
written: a platform name no topic can have, an empty loan or reason, a reason holding
the person's national ID (the platform reads the reason), an ID that is not one.
"""

from __future__ import annotations

import pytest

from streams.domain.privacy import Pseudonymizer
from streams.errors import ConfigError
from streams.sdk.rights import REASON_MAX, file_dispute, file_erasure
from streams.settings import Settings

#: Nothing listens here: a check that let a request through would fail differently.
SETTINGS = Settings(bootstrap="127.0.0.1:9")
PSEUDO = Pseudonymizer({1: "unit-test-key-0123456789abcdef"}, 1)


@pytest.mark.parametrize(
    ("national_id", "platform", "loan", "reason", "says"),
    [
        ("850101-1234", "Shop Mart", "L-1", "wrong", "not a platform name"),
        ("850101-1234", "shopmart", " ", "wrong", "must not be empty"),
        ("850101-1234", "shopmart", "L-1", "", "must not be empty"),
        ("850101-1234", "shopmart", "L-1", "x" * (REASON_MAX + 1), "longer than"),
        ("850101-1234", "shopmart", "L-1", "my id 850101 1234 is not theirs", "national ID"),
        ("12", "shopmart", "L-1", "wrong", "not 4-32 letters/digits"),
    ],
)
def test_a_request_that_cannot_be_filed_is_refused_at_once(
    national_id: str, platform: str, loan: str, reason: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        file_dispute(SETTINGS, PSEUDO, national_id, platform, loan, reason, "operator", timeout=1)


def test_an_erasure_needs_a_national_id() -> None:
    with pytest.raises(ConfigError, match="not 4-32 letters/digits"):
        file_erasure(SETTINGS, PSEUDO, "--", "operator", timeout=1)
