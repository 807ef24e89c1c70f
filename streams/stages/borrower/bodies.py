"""``io.creditstream.BorrowerProfile`` / ``ProfileUpdate`` bodies by hand, and read back.

The stage writes a profile for most events it reads; going through
``profile_to_avro`` (Decimals, datetimes, a dict per map) and fastavro's generic writer
cost ~40 us per profile. The records are fixed, so their bodies are written here
straight from a :data:`streams.domain.profile.model.View` (ints, strs, tuples), value by
value with ``binary`` (``streams.wire.binary`` and this stage's own).

Correctness is not assumed: :class:`streams.stages.borrower.records.OutputEncoder` compares
these bytes with the codec's own encoding at start-up and falls back to the codec if
they ever differ (a schema change this module does not know).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from io import BytesIO
from typing import Any, TypeVar

from fastavro import parse_schema, schemaless_reader

from streams.domain.profile.alerts import Alert
from streams.domain.profile.model import Credit, MoneyPairs, View
from streams.domain.profile.windows import ProfileConfig
from streams.stages.borrower.binary import (
    int_map,
    map_template,
    money_map,
    opt_long,
    strings,
    sum_map,
)
from streams.wire.binary import (
    EMPTY,
    SMALL,
    SMALL_LONGS,
    SMALL_OF,
    SOME,
    STRINGS,
    long_,
    string,
    zigzag,
)
from streams.wire.schemas import BORROWER_PROFILE, load_schemas


class ProfileBodies:
    """Writes BorrowerProfile bodies for one :class:`ProfileConfig` (its window labels).

    The credit and activity blocks are each one ``bytes %`` of a template built here
    (the window maps' counts and labels are constants of the config) with the encoded
    values: one C call instead of a Python call per field. Every int in them is a
    non-negative count or days past due, so below 4096 it is a table lookup; anything
    else takes the field-by-field path.
    """

    def __init__(self, config: ProfileConfig) -> None:
        def keys(labels: tuple[str, ...]) -> tuple[bytes, ...]:
            return tuple(string(label) for label in labels)

        self._count = keys(config.count_labels)
        self._lender = keys(config.lender_labels)
        self._dpd = keys(config.dpd_labels)
        self._spend = keys(config.spend_labels)
        count, lender, dpd, spend = self._count, self._lender, self._dpd, self._spend
        self._credit_fmt = b"".join(
            (
                b"%b%b",  # open_loans, outstanding_principal
                map_template(count),  # loans_opened
                map_template(count),  # applications
                map_template(lender),  # lenders_applied
                map_template(lender),  # lenders_borrowing
                b"%b",  # current_days_past_due
                map_template(dpd),  # worst_days_past_due
                b"%b%b%b%b%b%b",  # payment_history .. write_offs, first_delinquency
            )
        )
        # spend_count, spend_sum (a map of money maps), travel_bookings, platforms_active
        self._activity_fmt = map_template(spend) + map_template(spend) + b"%b%b"
        # Encodings of recurring values, bounded: credit blocks, platform lists.
        self._credit: dict[Credit, bytes] = {}
        self._platforms: dict[tuple[str, ...], bytes] = {}
        self._asof = (-1, b"")

    def _credit_block(self, credit: Credit) -> bytes:
        """open_loans .. first_delinquency (contiguous in the schema), field by field."""
        count, lender = self._count, self._lender
        return b"".join(
            (
                long_(credit[0]),  # open_loans
                money_map(credit[1]),  # outstanding_principal
                int_map(count, credit[2]),  # loans_opened
                int_map(count, credit[3]),  # applications
                int_map(lender, credit[4]),  # lenders_applied
                int_map(lender, credit[5]),  # lenders_borrowing
                long_(credit[6]),  # current_days_past_due
                int_map(self._dpd, credit[7]),  # worst_days_past_due
                string(credit[8]),  # payment_history
                long_(credit[9]),  # repayments_on_time
                long_(credit[10]),  # repayments_late
                long_(credit[11]),  # defaults
                long_(credit[12]),  # write_offs
                opt_long(credit[13]),  # first_delinquency
            )
        )

    def credit(self, credit: Credit) -> bytes:
        """The encoded credit block of ``credit`` (cached by value: identical for every
        borrower without loans, and for many with)."""
        got = self._credit.get(credit)
        if got is None:
            got = _cache(self._credit, credit, self._credit_template(credit))
        return got

    def _credit_template(self, credit: Credit) -> bytes:
        small = SMALL_LONGS
        long_of = SMALL_OF  # (map(): no Python frame per value, unlike a comprehension)
        first = credit[13]
        try:
            return self._credit_fmt % (
                small[credit[0]],
                money_map(credit[1]) if credit[1] else EMPTY,
                *map(long_of, credit[2]),
                *map(long_of, credit[3]),
                *map(long_of, credit[4]),
                *map(long_of, credit[5]),
                small[credit[6]],
                *map(long_of, credit[7]),
                STRINGS.get(credit[8]) or string(credit[8]),
                small[credit[9]],
                small[credit[10]],
                small[credit[11]],
                small[credit[12]],
                EMPTY if first is None else SOME + zigzag(first),
            )
        except IndexError:  # an int of 4096 or more
            return self._credit_block(credit)

    def activity(
        self, s_counts: tuple[int, ...], s_sums: tuple[MoneyPairs, ...], travel: int, active: int
    ) -> bytes:
        """spend_count .. platforms_active (contiguous in the schema)."""
        small = SMALL_LONGS
        sums = []
        last: MoneyPairs | None = None
        for pairs in s_sums:
            if pairs is not last:  # windows holding the same sums share them
                got = money_map(pairs) if pairs else EMPTY
                last = pairs
            sums.append(got)
        try:
            return self._activity_fmt % (
                *map(SMALL_OF, s_counts),
                *sums,
                small[travel],
                small[active],
            )
        except IndexError:  # an int of 4096 or more
            return b"".join(
                (
                    int_map(self._spend, s_counts),
                    *sum_map(self._spend, sums),
                    long_(travel),
                    long_(active),
                )
            )

    def body(self, v: View) -> bytes:
        """The BorrowerProfile body of ``v`` (fields in schema order)."""
        core, s_counts, s_sums, asof, version, platforms, last = v
        credit, travel, active, first = core
        if asof != self._asof[0]:  # the same for most of a batch: its read time
            self._asof = (asof, long_(asof))
        plats = self._platforms.get(platforms)
        if plats is None:
            plats = _cache(self._platforms, platforms, strings(platforms))
        return b"".join(
            (
                self._asof[1],
                SMALL_LONGS[version] if 0 <= version < SMALL else zigzag(version),
                self.credit(credit),
                self.activity(s_counts, s_sums, travel, active),
                EMPTY if first is None else SOME + zigzag(first),  # first_seen
                plats,  # contributing_platforms
                EMPTY if last is None else SOME + zigzag(last),  # last_event
            )
        )


_K = TypeVar("_K")


def _cache(cache: dict[_K, bytes], key: _K, value: bytes) -> bytes:
    if len(cache) > 20_000:  # bounded: these repeat, but need not
        cache.clear()
    cache[key] = value
    return value


def profile_update(
    header: bytes,
    borrower_id: str,
    version: int,
    material: bool,
    last_ingested_ms: int,
    alerts: Sequence[Alert],
    profile_body: bytes | memoryview,
) -> bytes:
    """A whole ProfileUpdate: ``header``, the fields before ``profile`` (its last
    field), then the profile's body."""
    raw = borrower_id.encode()
    parts: list[bytes | memoryview] = [
        header,
        long_(len(raw)),
        raw,
        SMALL_LONGS[version] if 0 <= version < SMALL else zigzag(version),
        b"\x01" if material else b"\x00",
        zigzag(last_ingested_ms),
    ]
    if alerts:
        parts.append(long_(len(alerts)))
        for a in alerts:
            parts.append(string(str(a.kind)))
            parts.append(string(a.reason))
    parts.append(EMPTY)
    parts.append(profile_body)
    return b"".join(parts)


@functools.cache
def _reader_schema() -> Any:
    # Logical types stripped: times stay ints, decimals their unscaled bytes.
    info = load_schemas().info(BORROWER_PROFILE)
    return parse_schema(strip_logical(info.resolved))


def strip_logical(schema: Any) -> Any:
    """``schema`` without ``logicalType`` annotations (fastavro then skips conversions)."""
    if isinstance(schema, dict):
        return {k: strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical(s) for s in schema]
    return schema


def read_body(body: bytes) -> View:
    """The :data:`View` a BorrowerProfile body was written from (window maps in the
    order written, which :class:`ProfileBodies` makes the config's window order)."""
    d: Any = schemaless_reader(BytesIO(body), _reader_schema(), None)

    def money(m: dict[str, bytes]) -> MoneyPairs:
        return tuple(sorted((c, int.from_bytes(b, "big", signed=True)) for c, b in m.items()))

    credit = (
        d["open_loans"],
        money(d["outstanding_principal"]),
        tuple(d["loans_opened"].values()),
        tuple(d["applications"].values()),
        tuple(d["lenders_applied"].values()),
        tuple(d["lenders_borrowing"].values()),
        d["current_days_past_due"],
        tuple(d["worst_days_past_due"].values()),
        d["payment_history"],
        d["repayments_on_time"],
        d["repayments_late"],
        d["defaults"],
        d["write_offs"],
        d["first_delinquency"],
    )
    core = (credit, d["travel_bookings"], d["platforms_active"], d["first_seen"])
    return (
        core,
        tuple(d["spend_count"].values()),
        tuple(money(m) for m in d["spend_sum"].values()),
        d["as_of"],
        d["profile_version"],
        tuple(d["contributing_platforms"]),
        d["last_event"],
    )
