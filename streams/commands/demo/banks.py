"""The demo's simulated banks: they subscribe borrowers and read their feeds, via the SDK.

Contract: :data:`BANKS` names each bank and which of a simulator round's first borrowers
it subscribes to (overlapping, so some borrowers are seen by both);
:func:`subscribe_round` subscribes them for a day, one customer_ref per bank, round and
borrower; :func:`read_feed` tails a bank's feed as the bank SDK reads it (exactly once
per version) until told to stop, keeping the last few items.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime, timedelta

from streams.sdk.subscriber import BankSubscriber, FeedItem
from streams.settings import Settings
from streams.simulator.load import SimConfig, national_ids

#: The simulated banks and which of each round's first borrowers they subscribe to
#: (overlapping, so some borrowers are seen by both).
BANKS = {"northbank": range(0, 4), "southbank": range(2, 6)}


def subscribe_round(settings: Settings, sim: SimConfig, round_no: int) -> None:
    """Each bank subscribes to its share of this round's first borrowers."""
    ids = national_ids(sim, max(max(r) for r in BANKS.values()) + 1)
    expires = datetime.now(UTC) + timedelta(days=1)
    for bank, members in BANKS.items():
        with BankSubscriber(bank, settings) as sub:
            for i in members:
                ref = f"{bank[:2]}-{round_no}-{i}"
                sub.subscribe(ids[i], ref, f"consent-{ref}", "CREDIT_APPLICATION", expires)


def read_feed(
    bank: str, settings: Settings, out: deque[FeedItem], stopping: threading.Event
) -> None:
    """Tail ``bank``'s feed as the bank's SDK reads it (deduplicated), keeping the last few."""
    with BankSubscriber(bank, settings, from_beginning=True) as sub:
        while not stopping.is_set():
            for item in sub.feed(timeout=1.0):
                out.append(item)
                if stopping.is_set():
                    break
