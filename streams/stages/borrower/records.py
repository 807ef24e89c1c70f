"""Byte formats of the profile half of the borrower stage (pure): profile record, outputs.

* Profile record (inside the borrower's state record, ``streams.stages.borrower.entry``;
  the whole value on ``exchange.profile-state`` before the stages were fused): the fold
  state and the last profile written to ``exchange.profiles``. Keeping the last *emitted*
  profile makes "material" mean "differs from what banks were last told", so slow
  drifts add up instead of never emitting. Format 3: format byte, then one marshal of
  ``(state fields, emitted View or None)`` (``streams.domain.profile.state.state_fields``,
  :data:`streams.domain.profile.model.View`), so a cold load is one ``marshal.loads`` (it
  happens for every borrower beyond the hot cache). Still read: formats 1 and 2 (format
  byte, the 4-byte big-endian length of ``streams.domain.profile.fold.state_to_bytes``, that state,
  then the profile: a marshalled :class:`BorrowerProfile` tuple in 1, the Avro body
  written to ``exchange.profiles`` in 2, decoded with fastavro: ~10x slower). Like the
  fold state, the changelog is written only by the exchange: trusted input.
* ``exchange.profiles`` value: the codec-encoded ``io.creditstream.BorrowerProfile``.
* ``exchange.profile-updates`` value: a codec-encoded ``io.creditstream.ProfileUpdate``.
  Its last field is the profile, and an Avro record body is the concatenation of its
  fields' bodies, so the update is header + head fields + the profile body already
  written for ``exchange.profiles``: the profile is encoded once, not twice. Both are
  written by hand (``streams.stages.borrower.bodies``) after a start-up check that the bytes
  equal the codec's.
"""

from __future__ import annotations

import logging
import marshal
import struct
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from streams.domain.profile.alerts import Alert, AlertKind
from streams.domain.profile.model import (
    V_VERSION,
    BorrowerProfile,
    Money,
    View,
    map_money,
    money_fits,
    profile_to_view,
    view_to_profile,
)
from streams.domain.profile.output import profile_to_avro
from streams.domain.profile.state import ProfileState, new_state, state_fields, state_from_bytes
from streams.domain.profile.windows import DEFAULT_CONFIG, ProfileConfig
from streams.stages.borrower.binary import AmountOverflowError
from streams.stages.borrower.bodies import ProfileBodies, profile_update, read_body
from streams.wire.codec import SINGLE_OBJECT_MAGIC, SniffingCodec
from streams.wire.schemas import BORROWER_PROFILE, PROFILE_UPDATE

log = logging.getLogger(__name__)
FORMAT = 3
_FORMAT_BYTE = bytes([FORMAT])
# Format 3 with the emitted view's money as strings: money is cents as int, or a
# Decimal below a cent (never off the wire, but exact), which marshal cannot hold.
_DECIMALS = bytes([4])
_READS = frozenset({1, 2, FORMAT, _DECIMALS[0]})
_LEN = struct.Struct(">I")
_NAMES = tuple(f.name for f in fields(BorrowerProfile))
# Fields holding Decimals (marshal cannot), by nesting depth of the Decimal in the map.
_DECIMAL_DEPTH = {"outstanding_principal": 1, "spend_sum": 2}


@dataclass(slots=True, init=False)
class ProfileEntry:
    """One borrower as the stage holds it: fold state and the last emitted profile.
    Built by hand like :class:`~streams.wire.events.LoanFacts` (mypyc compiles the
    init; one per borrower loaded)."""

    state: ProfileState
    emitted: View | None

    def __init__(self, state: ProfileState, emitted: View | None = None) -> None:
        self.state = state
        self.emitted = emitted

    def emit(self, v: View) -> None:
        """``v`` went out: later changes are judged against it."""
        self.emitted = v

    def emitted_profile(self, config: ProfileConfig = DEFAULT_CONFIG) -> BorrowerProfile | None:
        """The last emitted profile as a :class:`BorrowerProfile` (None before any)."""
        e = self.emitted
        return None if e is None else view_to_profile(self.state.borrower_id, e, config)


def cents_of(amount: str) -> Money:
    """Money of an amount written as a string (a Decimal below a cent stays one)."""
    d = Decimal(amount)
    return int(d) if d == d.to_integral_value() else d


def new_profile_entry(borrower_id: str) -> ProfileEntry:
    return ProfileEntry(new_state(borrower_id))


def _dec_out(value: Any, depth: int) -> Any:
    if depth == 0:
        return str(value)
    return {k: _dec_out(v, depth - 1) for k, v in value.items()}


def _dec_in(value: Any, depth: int) -> Any:
    if depth == 0:
        return Decimal(value)
    return {k: _dec_in(v, depth - 1) for k, v in value.items()}


def profile_to_tuple(p: BorrowerProfile) -> tuple[Any, ...]:
    """``p`` as a marshal-able tuple (Decimals as strings); see :func:`profile_from_tuple`."""
    out = []
    for name in _NAMES:
        value = getattr(p, name)
        depth = _DECIMAL_DEPTH.get(name)
        out.append(value if depth is None else _dec_out(value, depth))
    return tuple(out)


def profile_from_tuple(values: tuple[Any, ...]) -> BorrowerProfile:
    """Inverse of :func:`profile_to_tuple`."""
    kw = dict(zip(_NAMES, values, strict=True))
    for name, depth in _DECIMAL_DEPTH.items():
        kw[name] = _dec_in(kw[name], depth)
    return BorrowerProfile(**kw)


def profile_entry_to_bytes(entry: ProfileEntry) -> bytes:
    """The state record of ``entry`` (see module docstring)."""
    fields = state_fields(entry.state)
    record: Any = (fields, entry.emitted)  # Any: a View's amounts may be Decimals
    try:
        return _FORMAT_BYTE + marshal.dumps(record, 4)
    except ValueError:  # a Decimal amount: see _DECIMALS
        emitted = map_money(entry.emitted, str) if entry.emitted is not None else None
        record = (fields, emitted)
        return _DECIMALS + marshal.dumps(record, 4)


def profile_entry_from_bytes(data: bytes) -> ProfileEntry:
    """Inverse of :func:`profile_entry_to_bytes` (also reads formats 1 and 2); ``ValueError`` on
    an unknown format."""
    if not data or data[0] not in _READS:
        raise ValueError(f"unknown profile entry format {data[:1]!r}")
    view = memoryview(data)
    if data[0] == FORMAT:
        fields, emitted = marshal.loads(view[1:])
        return ProfileEntry(ProfileState(fields), emitted)
    if data[0] == _DECIMALS[0]:
        fields, emitted = marshal.loads(view[1:])
        return ProfileEntry(ProfileState(fields), emitted and map_money(emitted, cents_of))
    (n,) = _LEN.unpack_from(data, 1)  # formats 1 and 2: [format][u32 n][state n][profile]
    entry = ProfileEntry(state_from_bytes(view[5 : 5 + n]))
    blob = bytes(view[5 + n :])
    if data[0] == 2:
        if blob:
            entry.emit(read_body(blob))
        return entry
    old = marshal.loads(blob)
    if old is not None:
        entry.emit(profile_to_view(profile_from_tuple(old)))
    return entry


class OutputEncoder:
    """Encodes exchange.profiles and exchange.profile-updates values with ``codec``'s
    wire format (its headers are learned from one real encode each: single-object or
    Confluent framing and registry ids are the codec's business)."""

    def __init__(self, codec: SniffingCodec, config: ProfileConfig = DEFAULT_CONFIG) -> None:
        self.codec = codec
        self.config = config
        self._bodies = ProfileBodies(config)
        schema = codec.single.schemas.info(PROFILE_UPDATE).resolved
        if schema["fields"][-1]["name"] != "profile":
            raise ValueError("ProfileUpdate must end with its profile field")
        sample = sample_view(config)
        alerts = [Alert(AlertKind.NEW_LOAN, "sample \u00e9", 0)]
        full = self._codec_profile(sample)
        self._profile_header = full[: _header_len(full)]
        upd = self._codec_update("b" * 64, sample, full, True, 1_700_000_000_123, alerts)
        self._update_header = upd[: _header_len(upd)]
        # The hand-written bodies are used only if they equal the codec's bytes, for
        # large values (field by field) and small ones (the bodies' templates) alike.
        self.hand_written = True
        small = sample_view(config, large=False)
        self.hand_written = (
            self.profile(sample) == full
            and self.update("b" * 64, sample, full, True, 1_700_000_000_123, alerts) == upd
            and self.profile(small) == self._codec_profile(small)
        )
        if not self.hand_written:
            log.warning(
                "profile schemas differ from streams.stages.borrower.bodies: using the codec"
            )

    def profile(self, v: View) -> bytes:
        """Encoded ``io.creditstream.BorrowerProfile`` of ``v``; raises
        :class:`~streams.stages.borrower.binary.AmountOverflowError` if an amount does not fit
        the schema (either path)."""
        if not self.hand_written:
            if not money_fits(v):
                raise AmountOverflowError("amount exceeds decimal(18, 2)")
            return self._codec_profile(v)
        return self._profile_header + self._bodies.body(v)

    def body_of(self, profile_bytes: bytes) -> bytes:
        """The Avro body of :meth:`profile`'s bytes (what an entry keeps)."""
        return profile_bytes[len(self._profile_header) :]

    def update(
        self,
        borrower_id: str,
        v: View,
        profile_bytes: bytes,
        material: bool,
        last_ingested_ms: int,
        alerts: Sequence[Alert],
    ) -> bytes:
        """Encoded ``io.creditstream.ProfileUpdate`` around ``profile_bytes`` (from
        :meth:`profile` of the same ``v``)."""
        if not self.hand_written:
            return self._codec_update(
                borrower_id, v, profile_bytes, material, last_ingested_ms, alerts
            )
        body = memoryview(profile_bytes)[len(self._profile_header) :]
        return profile_update(
            self._update_header, borrower_id, v[V_VERSION], material, last_ingested_ms, alerts, body
        )

    # -- the codec's own encoding (reference and fallback) -------------------------------
    def _codec_profile(self, v: View) -> bytes:
        return self.codec.encode(
            BORROWER_PROFILE, profile_to_avro(view_to_profile("", v, self.config))
        )

    def _codec_update(
        self,
        borrower_id: str,
        v: View,
        profile_bytes: bytes,
        material: bool,
        last_ingested_ms: int,
        alerts: Sequence[Alert],
    ) -> bytes:
        del profile_bytes  # re-encoded from v
        datum = {
            "borrower_id": borrower_id,
            "profile_version": v[V_VERSION],
            "material": material,
            "last_ingested_at": last_ingested_ms,
            "alerts": [{"kind": str(a.kind), "reason": a.reason} for a in alerts],
            "profile": profile_to_avro(view_to_profile(borrower_id, v, self.config)),
        }
        return self.codec.encode(PROFILE_UPDATE, datum)


def sample_view(config: ProfileConfig, large: bool = True) -> View:
    """A view exercising every field kind (negative, multi-byte and sub-cent amounts),
    with ``large`` counts (4096 and more are encoded field by field) or only small."""
    nc, nl = len(config.count_windows_days), len(config.lender_windows_days)
    nd, ns = len(config.dpd_windows_months), len(config.spend_windows_days)
    money = (("EUR", 12_345_678), ("JPY", -128), ("USD", Decimal("1050.5")))
    many = 70_000 if large else 63
    credit = (
        3,
        money,
        tuple(range(1, nc + 1)),
        (200,) * nc,
        (0,) * nl,
        (many,) * nl,
        45,
        (1,) * nd,
        "0123456" + "-" * max(0, config.history_months - 7),
        5,
        1,
        1,
        0,
        1_600_000_000_000,
    )
    core = (credit, 2, 1, None)
    return (core, (9,) * ns, (money,) * ns, 1_700_000_000_000, 10**6, ("p1", "p\u00e9"), None)


def _header_len(encoded: bytes) -> int:
    return 10 if encoded.startswith(SINGLE_OBJECT_MAGIC) else 5
