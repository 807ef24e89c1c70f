"""One borrower as the borrower stage holds it, and its state record (pure).

A :class:`BorrowerEntry` is everything the exchange knows about one borrower, owned by
the one worker that owns the borrower's partition: the fold state and the last profile
written to ``exchange.profiles`` (``ProfileEntry``: "material" means "differs from what
banks were last told"), the banks' subscriptions, and the view and version of the last
``ProfileUpdate`` (material or alert-only): the snapshot a new subscriber is answered
with.

It also holds the borrower's :class:`~streams.domain.rights.Rights` (disputes, ended
consents, excluded loans; None for almost everyone).

State record (value on ``exchange.borrower-state``, key borrower_id, partition = the
input partition), format 6::

    [6][u32 n][n bytes: consent.to_bytes(subs)][u32 m][m bytes: profile record]
       [u32 r][r bytes: marshal(rights.as_tuple()), none when no rights][tail]

where the profile record is the format 3/4 record of the former profile stage
(``records.profile_entry_to_bytes``) and the tail is ``marshal((last_version, last))``
with ``last`` None when it is the emitted profile (the common case: a material
update), or ``(last_version, last, 1)`` when its money had to be written as strings.
Subscriptions and rights come before the tail so recovery indexes expiries and dispute
deadlines without decoding the profile. Format 5 is format 6 without the rights. A
record of format 1-4 (a bare profile record, ``exchange.profile-state`` before the
stages were fused) reads as an entry without subscriptions whose last view is its
emitted profile: the migration path. A borrower with no event and no subscription is
a tombstone (None). Written only by the exchange: trusted input.
"""

from __future__ import annotations

import marshal
import struct
from dataclasses import dataclass
from typing import Any

from streams.domain import consent
from streams.domain.consent import Subscription
from streams.domain.profile.model import View, map_money
from streams.domain.profile.state import ProfileState, new_state
from streams.domain.rights import Rights, rights_from_tuple
from streams.stages.borrower.records import (
    ProfileEntry,
    cents_of,
    profile_entry_from_bytes,
    profile_entry_to_bytes,
)

FORMAT = 6
_FORMAT_BYTE = bytes((FORMAT,))
_FORMATS = frozenset({5, FORMAT})  # 5: no rights section
_LEN = struct.Struct(">I")


@dataclass(slots=True, init=False)
class BorrowerEntry(ProfileEntry):
    """A :class:`ProfileEntry` with the borrower's subscriptions by bank, the view
    and version of the last ``ProfileUpdate`` (None/0: none yet) and the borrower's
    rights (None: no dispute, no ended consent to remember). Built by hand (see
    :class:`ProfileEntry`)."""

    subs: dict[str, Subscription]
    last: View | None
    last_version: int
    rights: Rights | None

    def __init__(
        self,
        state: ProfileState,
        emitted: View | None = None,
        subs: dict[str, Subscription] | None = None,
        last: View | None = None,
        last_version: int = 0,
        rights: Rights | None = None,
    ) -> None:
        self.state = state
        self.emitted = emitted
        self.subs = {} if subs is None else subs
        self.last = last
        self.last_version = last_version
        self.rights = rights

    def updated(self, v: View, material: bool) -> None:
        """A ``ProfileUpdate`` of ``v`` went out (``material``: also to exchange.profiles)."""
        if material:
            self.emitted = v
        self.last, self.last_version = v, v[4]

    def empty(self) -> bool:
        return not self.subs and self.state.version == 0 and self.rights is None

    def next_due(self) -> int | None:
        """When the prune timer must look at this entry again: the earliest
        subscription expiry or open dispute's deadline (None: never)."""
        return _earliest(
            consent.next_expiry(self.subs),
            None if self.rights is None else self.rights.next_deadline(),
        )


def new_borrower_entry(borrower_id: str) -> BorrowerEntry:
    return BorrowerEntry(new_state(borrower_id))


def borrower_entry_to_bytes(entry: BorrowerEntry) -> bytes | None:
    """The state record of ``entry``; None (a tombstone) when it holds nothing."""
    if entry.empty():
        return None
    subs = consent.to_bytes(entry.subs) if entry.subs else b""
    profile = profile_entry_to_bytes(entry)
    rights = b"" if entry.rights is None else marshal.dumps(entry.rights.as_tuple(), 4)
    last = None if entry.last is entry.emitted else entry.last
    tail_value: Any = (entry.last_version, last)  # Any: a View's amounts may be Decimals
    try:
        tail = marshal.dumps(tail_value, 4)
    except ValueError:  # a Decimal below a cent (never off the wire): as strings
        assert last is not None
        as_text: Any = (entry.last_version, map_money(last, str), 1)
        tail = marshal.dumps(as_text, 4)
    return b"".join(
        (
            _FORMAT_BYTE,
            _LEN.pack(len(subs)),
            subs,
            _LEN.pack(len(profile)),
            profile,
            _LEN.pack(len(rights)),
            rights,
            tail,
        )
    )


def borrower_entry_from_bytes(data: bytes) -> BorrowerEntry:
    """Inverse of :func:`borrower_entry_to_bytes`; reads profile records of formats
    1-4 too (see the module doc); ``ValueError`` on an unknown format."""
    if data[0] not in _FORMATS:
        p = profile_entry_from_bytes(data)
        return BorrowerEntry(p.state, p.emitted, last=p.emitted, last_version=_version(p))
    view = memoryview(data)
    (n,) = _LEN.unpack_from(data, 1)
    subs = consent.from_bytes(bytes(view[5 : 5 + n])) if n else {}
    (m,) = _LEN.unpack_from(data, 5 + n)
    at = 9 + n
    p = profile_entry_from_bytes(bytes(view[at : at + m]))
    at += m
    rights = None
    if data[0] == FORMAT:
        (r,) = _LEN.unpack_from(data, at)
        if r:
            rights = rights_from_tuple(marshal.loads(view[at + 4 : at + 4 + r]))
        at += 4 + r
    tail = marshal.loads(view[at:])
    last: View | None = p.emitted if tail[1] is None else tail[1]
    if len(tail) > 2 and last is not None:
        last = map_money(last, cents_of)
    return BorrowerEntry(p.state, p.emitted, subs, last, tail[0], rights)


def subscriptions_of(data: bytes) -> dict[str, Subscription]:
    """Only the subscriptions of a state record (cheap: nothing else is decoded)."""
    if data[0] not in _FORMATS:
        return {}
    (n,) = _LEN.unpack_from(data, 1)
    return consent.from_bytes(data[5 : 5 + n]) if n else {}


def next_expiry_of(data: bytes) -> int | None:
    """:meth:`BorrowerEntry.next_due` of a state record, without decoding the
    subscriptions or the profile (recovery asks this of every replayed record)."""
    if data[0] not in _FORMATS:
        return None
    (n,) = _LEN.unpack_from(data, 1)
    expiry = consent.next_expiry_of(data[5 : 5 + n]) if n else None
    if data[0] != FORMAT:
        return expiry
    (m,) = _LEN.unpack_from(data, 5 + n)
    at = 9 + n + m
    (r,) = _LEN.unpack_from(data, at)
    if not r:
        return expiry
    rights = rights_from_tuple(marshal.loads(data[at + 4 : at + 4 + r]))
    return _earliest(expiry, rights.next_deadline())


def _earliest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _version(p: ProfileEntry) -> int:
    return 0 if p.emitted is None else int(p.emitted[4])
