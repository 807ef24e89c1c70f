"""Byte formats of the profile stage (pure): the per-borrower state record, the outputs.

* State record (value on ``exchange.profile-state``, key borrower_id): format byte, the
  4-byte big-endian length of the fold state (``streams.profile.state_to_bytes``), that
  state, then the last profile written to ``exchange.profiles``. Keeping the last
  *emitted* profile makes "material" mean "differs from what banks were last told", so
  slow drifts add up instead of never emitting. Format 2 keeps it as the Avro body it
  was written to ``exchange.profiles`` with (already encoded, so free to keep; empty
  before the first), read back into a :data:`streams.profile_view.View` on a cold load;
  format 1 (still read) kept a marshalled :class:`BorrowerProfile` tuple. Like the fold
  state, the changelog is written only by the exchange: trusted input.
* ``exchange.profiles`` value: the codec-encoded ``io.creditstream.BorrowerProfile``.
* ``exchange.profile-updates`` value: a codec-encoded ``io.creditstream.ProfileUpdate``.
  Its last field is the profile, and an Avro record body is the concatenation of its
  fields' bodies, so the update is header + head fields + the profile body already
  written for ``exchange.profiles``: the profile is encoded once, not twice. Both are
  written by hand (``streams.profiles.avro``) after a start-up check that the bytes
  equal the codec's.
"""

from __future__ import annotations

import functools
import logging
import marshal
import struct
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from streams.alerts import Alert, AlertKind
from streams.codec import SINGLE_OBJECT_MAGIC, SniffingCodec, codec_for
from streams.profile import (
    DEFAULT_CONFIG,
    BorrowerProfile,
    ProfileConfig,
    ProfileState,
    new_state,
    profile_to_avro,
    state_from_bytes,
    state_to_bytes,
)
from streams.profile_view import View, profile_to_view, view_to_profile
from streams.profiles.avro import ProfileBodies, read_body, update_head
from streams.schemas import BORROWER_PROFILE, NAMESPACE

log = logging.getLogger(__name__)
PROFILE_UPDATE = f"{NAMESPACE}.ProfileUpdate"
FORMAT = 2
_FORMAT_BYTE = bytes([FORMAT])
_LEN = struct.Struct(">I")
_NAMES = tuple(f.name for f in fields(BorrowerProfile))
# Fields holding Decimals (marshal cannot), by nesting depth of the Decimal in the map.
_DECIMAL_DEPTH = {"outstanding_principal": 1, "spend_sum": 2}


@dataclass(slots=True)
class Entry:
    """One borrower as the stage holds it: fold state and the last emitted profile.

    Set the profile with :meth:`emit`, with the body it was written with: that is what
    the state record keeps, so an entry is re-serialized at the cost of its state alone.
    """

    state: ProfileState
    emitted: View | None = None
    emitted_blob: bytes = b""

    def emit(self, v: View, body: bytes) -> None:
        self.emitted = v
        self.emitted_blob = body

    def emitted_profile(self, config: ProfileConfig = DEFAULT_CONFIG) -> BorrowerProfile | None:
        """The last emitted profile as a :class:`BorrowerProfile` (None before any)."""
        e = self.emitted
        return None if e is None else view_to_profile(self.state.borrower_id, e, config)


def new_entry(borrower_id: str) -> Entry:
    return Entry(new_state(borrower_id))


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


def entry_to_bytes(entry: Entry) -> bytes:
    """The state record of ``entry`` (see module docstring)."""
    state = state_to_bytes(entry.state)
    return b"".join((_FORMAT_BYTE, _LEN.pack(len(state)), state, entry.emitted_blob))


def entry_from_bytes(data: bytes) -> Entry:
    """Inverse of :func:`entry_to_bytes` (also reads format 1); ``ValueError`` on an
    unknown format."""
    if not data or data[0] not in (1, FORMAT):
        raise ValueError(f"unknown profile entry format {data[:1]!r}")
    (n,) = _LEN.unpack_from(data, 1)
    view = memoryview(data)
    state = state_from_bytes(bytes(view[5 : 5 + n]))
    blob = bytes(view[5 + n :])
    if data[0] == FORMAT:
        return Entry(state, read_body(blob) if blob else None, blob)
    old = marshal.loads(blob)
    entry = Entry(state)
    if old is not None:
        profile = profile_from_tuple(old)
        body = _codec().encode(BORROWER_PROFILE, profile_to_avro(profile))
        entry.emit(profile_to_view(profile), body[_header_len(body) :])
    return entry


@functools.cache
def _codec() -> SniffingCodec:
    return codec_for(None)


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
        sample = _sample_view(config)
        alerts = [Alert(AlertKind.NEW_LOAN, "sample \u00e9", 0)]
        full = self._codec_profile(sample)
        self._profile_header = full[: _header_len(full)]
        upd = self._codec_update("b" * 64, sample, full, True, 1_700_000_000_123, alerts)
        self._update_header = upd[: _header_len(upd)]
        # The hand-written bodies are used only if they equal the codec's bytes.
        self.hand_written = True
        self.hand_written = self.profile(sample) == full and (
            self.update("b" * 64, sample, full, True, 1_700_000_000_123, alerts) == upd
        )
        if not self.hand_written:
            log.warning("profile schemas differ from streams.profiles.avro: using the codec")

    def profile(self, v: View) -> bytes:
        """Encoded ``io.creditstream.BorrowerProfile`` of ``v``."""
        if not self.hand_written:
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
        alerts: list[Alert],
    ) -> bytes:
        """Encoded ``io.creditstream.ProfileUpdate`` around ``profile_bytes`` (from
        :meth:`profile` of the same ``v``)."""
        if not self.hand_written:
            return self._codec_update(
                borrower_id, v, profile_bytes, material, last_ingested_ms, alerts
            )
        head = update_head(borrower_id, v[4], material, last_ingested_ms, alerts)
        body = memoryview(profile_bytes)[len(self._profile_header) :]
        return b"".join((self._update_header, head, body))

    # -- the codec's own encoding (reference and fallback) -------------------------------
    def _codec_profile(self, v: View) -> bytes:
        return self.codec.encode(BORROWER_PROFILE, profile_to_avro(view_to_profile("", v)))

    def _codec_update(
        self,
        borrower_id: str,
        v: View,
        profile_bytes: bytes,
        material: bool,
        last_ingested_ms: int,
        alerts: list[Alert],
    ) -> bytes:
        del profile_bytes  # re-encoded from v
        datum = {
            "borrower_id": borrower_id,
            "profile_version": v[4],
            "material": material,
            "last_ingested_at": last_ingested_ms,
            "alerts": [{"kind": str(a.kind), "reason": a.reason} for a in alerts],
            "profile": profile_to_avro(view_to_profile(borrower_id, v, self.config)),
        }
        return self.codec.encode(PROFILE_UPDATE, datum)


def _sample_view(config: ProfileConfig) -> View:
    """A view exercising every field kind (negative, multi-byte and sub-cent amounts)."""
    nc, nl = len(config.count_windows_days), len(config.lender_windows_days)
    nd, ns = len(config.dpd_windows_months), len(config.spend_windows_days)
    money = (("EUR", 12_345_678), ("JPY", -128), ("USD", Decimal("1050.5")))
    core = (
        3,
        money,
        tuple(range(1, nc + 1)),
        (200,) * nc,
        (0,) * nl,
        (70_000,) * nl,
        45,
        (1,) * nd,
        "0123456" + "-" * max(0, config.history_months - 7),
        5,
        1,
        1,
        0,
        1_600_000_000_000,
        2,
        1,
        None,
    )
    return (core, (9,) * ns, (money,) * ns, 1_700_000_000_000, 10**6, ("p1", "p\u00e9"), None)


def _header_len(encoded: bytes) -> int:
    return 10 if encoded.startswith(SINGLE_OBJECT_MAGIC) else 5
