"""The torture generator (tests/chaos/badinput.py) against the pure ingress processor.

Every variant of every family, many times over, gets the reason the generator promises
and keeps its bytes; a valid record cut at every single cut point is TRUNCATED (or,
cut to its first byte, not Avro at all); the generator's own Avro writer writes what the
exchange's codec writes; plans are reproducible and have every family at 1% already.
The known gaps (``KNOWN_GAPS``) are expected to fail: once the codec is fixed, these
tests say so and the variants can join the torture plans.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import DEFAULT_LIMITS
from streams.runtime.registry import codec_for
from streams.simulator.load import generate
from streams.stages.ingress.dedup import Dedup
from streams.stages.ingress.process import REJECT_COPY_MAX, Accepted, IngressProcessor, RawRecord
from streams.wire.rejects import Reason
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT
from tests.chaos import badinput
from tests.chaos.badinput import FAMILIES, KNOWN_GAPS, Torture, TortureConfig, examples, plan

CODEC = codec_for(None)
NOW = time.time_ns() // 1_000_000
# Small sizes for the unit run: a "multi-MB" record of 64 KiB still goes through the
# same path (OVERSIZE before decoding) as one of several MB.
CONFIG = TortureConfig(
    now_ms=NOW, events=400, bad_share=0.0, seed=5, borrowers=40, huge_bytes=64 * 1024
)
TIMES = 25  # records per variant


def processor() -> IngressProcessor:
    pseudo = Pseudonymizer({1: "unit-test-key-0123456789abcdef"}, 1)
    return IngressProcessor(CODEC, pseudo, DEFAULT_LIMITS, Dedup(10**12, 4))


def outcome(rec: Torture, offset: int = 0) -> tuple[str | None, bytes]:
    """(reject reason or None when accepted, the bytes the reject keeps)."""
    out = processor().process(RawRecord(rec.topic, 0, offset, rec.value, NOW), NOW)
    if isinstance(out, Accepted):
        return None, b""
    return out.reject.reason, out.reject.original


VARIANTS = [
    pytest.param(family, index, id=f"{family}-{fn.__name__}")
    for family, fns in sorted(FAMILIES.items())
    if family != "sim"
    for index, fn in enumerate(fns)
]


@pytest.mark.parametrize(("family", "index"), VARIANTS)
def test_each_variant_gets_its_reason_and_keeps_its_bytes(family: str, index: int) -> None:
    records = examples(CONFIG, family, index, TIMES)
    wrong = []
    for rec in records:
        reason, kept = outcome(rec)
        assert not rec.good
        if reason not in rec.reasons:
            wrong.append((rec.kind, reason))
        elif len(rec.value or b"") <= REJECT_COPY_MAX:
            assert kept == (rec.value or b"")
    gaps = {k for k, _ in wrong} & KNOWN_GAPS
    if gaps:
        pytest.xfail(f"known gap (see badinput.KNOWN_GAPS): {sorted(gaps)}")
    assert not wrong, wrong[:5]
    if any(rec.kind in KNOWN_GAPS for rec in records):
        pytest.fail(f"{records[0].kind} is answered right now: drop it from KNOWN_GAPS")


def test_the_known_gaps_are_accepted_today_with_values_nobody_sent() -> None:
    for family, fns in FAMILIES.items():
        for index, fn in enumerate(fns):
            for rec in examples(CONFIG, family, index, 3) if family != "sim" else []:
                if rec.kind in KNOWN_GAPS:
                    assert outcome(rec)[0] is None, (fn.__name__, outcome(rec)[0])


def good_datums() -> list[tuple[str, dict[str, object]]]:
    return [
        (r.schema_name, r.datum)
        for r in generate(CONFIG.sim(), CODEC.encode)
        if r.bad is None and r.datum is not None
    ]


def test_the_generators_avro_writer_writes_what_the_codec_writes() -> None:
    datums = good_datums()
    assert {s for s, _ in datums} == {LOAN_EVENT, ACTIVITY_EVENT}
    for schema, datum in datums:
        assert badinput.encode(schema, datum) == CODEC.encode(schema, datum)
    loan = next(d for s, d in datums if s == LOAN_EVENT)
    full = loan | {"type": "CORRECTION", "corrects_event_id": "e-0", "term_months": 12}
    assert badinput.encode(LOAN_EVENT, full) == CODEC.encode(LOAN_EVENT, full)
    raw = badinput.encode(LOAN_EVENT, loan, {"lender": badinput.bytes_(b"X")})
    assert CODEC.decode(raw)[1]["lender"] == "X"


def test_every_cut_point_of_a_valid_record_is_truncated() -> None:
    datums = good_datums()
    loan = next(d for s, d in datums if s == LOAN_EVENT)
    records = [
        (LOAN_EVENT, loan | {"type": "CORRECTION", "corrects_event_id": "e-0", "term_months": 9}),
        *[(s, d) for s, d in datums[:12]],
    ]
    for schema, datum in records:
        data = CODEC.encode(schema, datum)
        topic = "ingest.acme.loans" if schema == LOAN_EVENT else "ingest.acme.activity"
        for cut in range(len(data)):
            rec = Torture(topic, None, data[:cut], (), "cut", "acme")
            want = Reason.NOT_AVRO if cut < 2 else Reason.TRUNCATED
            assert outcome(rec)[0] == want, (schema, cut, len(data))
        assert outcome(Torture(topic, None, data, (), "whole", "acme"))[0] is None


def test_wire_reason_follows_the_header_contract() -> None:
    fp = badinput.SCHEMAS.info(LOAN_EVENT).fingerprint
    assert badinput.wire_reason(b"") == Reason.NOT_AVRO
    assert badinput.wire_reason(b"\x00") == Reason.UNKNOWN_SCHEMA  # no registry configured
    assert badinput.wire_reason(b"\xc3") == Reason.NOT_AVRO
    assert badinput.wire_reason(b"\xc3\x01" + fp[:7]) == Reason.TRUNCATED
    assert badinput.wire_reason(b"\xc3\x01" + bytes(8)) == Reason.UNKNOWN_SCHEMA
    assert badinput.wire_reason(b"\xc3\x01" + fp) is None
    assert badinput.wire_reason(b"{}") == Reason.NOT_AVRO


def test_plans_are_reproducible_and_have_every_family_at_one_percent() -> None:
    config = TortureConfig(now_ms=NOW, events=3000, bad_share=0.01, seed=71, huge_bytes=64 * 1024)
    first, again = plan(config), plan(config)
    assert [(r.topic, r.key, r.value, r.reasons) for r in first] == [
        (r.topic, r.key, r.value, r.reasons) for r in again
    ]
    bad = [r for r in first if not r.good]
    assert len(bad) == 30 and len(first) == 3000
    assert {r.kind.split("/")[0] for r in bad} == set(FAMILIES)
    kinds = Counter(r.kind for r in bad)
    assert kinds["oversize/multi-MB"] == 1 and kinds["oversize/default-client-max"] == 1
    assert not set(kinds) & KNOWN_GAPS
    assert len({r.event_id for r in first if r.good}) == len(first) - len(bad)


def test_half_bad_plans_deal_every_variant_but_the_known_gaps() -> None:
    config = TortureConfig(now_ms=NOW, events=3000, bad_share=0.5, seed=72, huge_bytes=64 * 1024)
    records = plan(config)
    bad = [r for r in records if not r.good]
    assert len(bad) == 1500
    assert sum(r.huge for r in records) == config.huge_records
    fns = {(f, fn.__name__) for f, v in FAMILIES.items() for fn in v if f != "sim"}
    assert len({r.kind for r in bad}) > len(fns)  # invalid-value has many labels per fn
    assert not {r.kind for r in bad} & KNOWN_GAPS
    assert {r.kind for r in bad if r.kind.startswith("sim/")} >= {"sim/DUPLICATE_EVENT"}
