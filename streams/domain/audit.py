"""The audit trail's hash chain: seal records, verify a partition's chain.

Contract:

* Each ``exchange.audit`` partition is one chain. :func:`seal` fills ``prev_hash`` (the
  previous record's ``hash``, :data:`GENESIS` for the first) and ``hash`` =
  hex SHA-256 of :func:`canonical` (every field but ``hash``, ``prev_hash`` included).
* :func:`canonical` is a versioned, sorted-key, ASCII-only compact JSON of exactly the
  schema's fields with explicit types (ints as JSON integers, everything else strings),
  so the same record hashes the same on any Python version and after an Avro round
  trip (``delivered_at`` as a datetime or as epoch ms gives the same bytes).
* :func:`verify` / :class:`ChainVerifier` walk a partition in offset order and report
  every :class:`Problem` with the offset it was found at: a modified record
  (``MODIFIED``: its hash does not match its content), a removed, inserted or reordered
  record (``BROKEN_LINK``: its ``prev_hash`` is not the previous record's hash; the
  message says whether it links to another record of the partition, i.e. reordering,
  or to none, i.e. a removal), a chain that does not start at genesis, and records
  that are not audit records at all (``MALFORMED``).
* :class:`ChainHead` is what a writing stage keeps per audit partition. One writer per
  partition (the borrower-stage instance owning it) or the chain forks: produce each sealed
  record to the partition whose head sealed it.

Pure: no Kafka import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from streams.domain.validation import to_epoch_ms

GENESIS = "0" * 64
#: Every AuditRecord field except ``hash``, with the JSON type it is hashed as.
INT_FIELDS = ("profile_version", "delivered_at")
STR_FIELDS = ("bank", "borrower_id", "customer_ref", "purpose", "consent_ref", "feed_topic")
SEALED_FIELDS = (*STR_FIELDS, *INT_FIELDS)
# Domain separation: a hash of some other JSON can never pass as an audit hash, and a
# future layout gets a new tag instead of silently changing old hashes.
_TAG = b"creditstream.audit.v1\n"


#: ``json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` of the
#: sealed fields and ``prev_hash``, written out: the keys in sorted order, each value
#: through what json writes for it (``encode_basestring_ascii`` for a str,
#: ``int.__repr__`` for an int). Same bytes, a third of the time
#: (``tests/unit/test_audit.py`` compares the two on generated records).
_KEYS = tuple(sorted((*SEALED_FIELDS, "prev_hash")))
_TEMPLATE = "{" + ",".join(f'"{k}":%s' for k in _KEYS) + "}"
_INTS = frozenset(INT_FIELDS)


def canonical(fields: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes hashed for a record (``ValueError`` on a missing or mistyped field)."""
    values = []
    for name in _KEYS:
        value = prev_hash if name == "prev_hash" else fields.get(name)
        if name in _INTS:
            if isinstance(value, datetime):
                value = to_epoch_ms(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"audit field {name} must be an integer")
            values.append(int.__repr__(value))
        else:
            values.append(_quote(_str(name, value)))
    return _TAG + (_TEMPLATE % tuple(values)).encode("ascii")


def _str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"audit field {name} must be a string")
    return value


def record_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """Hex SHA-256 of :func:`canonical`."""
    return hashlib.sha256(canonical(fields, prev_hash)).hexdigest()


def seal(prev_hash: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The ``io.creditstream.AuditRecord`` datum for ``fields`` chained after ``prev_hash``
    (extra keys in ``fields`` are ignored; ``delivered_at`` comes out as epoch ms)."""
    datum: dict[str, Any] = {n: fields[n] for n in SEALED_FIELDS if n in fields}
    if isinstance(datum.get("delivered_at"), datetime):
        datum["delivered_at"] = to_epoch_ms(datum["delivered_at"])
    datum["prev_hash"] = prev_hash
    datum["hash"] = record_hash(datum, prev_hash)
    return datum


@dataclass(slots=True)
class ChainHead:
    """The tip of one partition's chain, kept by the stage that writes it.

    Recover it from the newest record of the partition (:meth:`after`). In a
    transactional stage take :meth:`checkpoint` before a batch and :meth:`reset` to it
    when the transaction aborts, so aborted records never become predecessors.
    """

    hash: str = GENESIS
    sealed: int = 0

    @classmethod
    def after(cls, last: Mapping[str, Any] | None) -> ChainHead:
        """The head following ``last`` (the partition's newest record; None: empty)."""
        return cls() if last is None else cls(str(last["hash"]))

    def seal(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        datum = seal(self.hash, fields)
        self.hash = datum["hash"]
        self.sealed += 1
        return datum

    def checkpoint(self) -> str:
        return self.hash

    def reset(self, checkpoint: str) -> None:
        self.hash = checkpoint


class ProblemKind(StrEnum):
    MODIFIED = "MODIFIED"
    BROKEN_LINK = "BROKEN_LINK"
    MALFORMED = "MALFORMED"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of :func:`verify`, at the offset of the record it was found at."""

    offset: int
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"offset {self.offset}: {self.kind}: {self.message}"


@dataclass(slots=True)
class ChainVerifier:
    """Streaming verifier of one partition; feed records in offset order with :meth:`add`.

    ``start`` is the ``prev_hash`` the first record must carry: :data:`GENESIS` when the
    partition is read from its very first record, None when older records may have aged
    out by retention (then the first link cannot be checked). ``window`` bounds memory:
    the hashes remembered to tell a reordering from a removal.
    """

    start: str | None = GENESIS
    window: int | None = 1_000_000
    count: int = 0
    _first: int | None = None
    _expected: str | None = None
    _seen: dict[str, int] = field(default_factory=dict)
    _breaks: list[tuple[int, str]] = field(default_factory=list)
    _problems: list[Problem] = field(default_factory=list)

    def add(self, offset: int, datum: Mapping[str, Any] | None) -> None:
        """Check one record (``None``: the record could not be decoded as an audit record)."""
        if self.count == 0:
            self._first, expected = offset, self.start
        else:
            expected = self._expected
        self.count += 1
        stored, prev = (datum or {}).get("hash"), (datum or {}).get("prev_hash")
        if datum is None or not isinstance(stored, str) or not isinstance(prev, str):
            self._problems.append(Problem(offset, ProblemKind.MALFORMED, "not an audit record"))
            self._expected = None  # the next link cannot be checked
            return
        try:
            if record_hash(datum, prev) != stored:
                msg = "content does not match its hash (record modified)"
                self._problems.append(Problem(offset, ProblemKind.MODIFIED, msg))
        except ValueError as exc:
            self._problems.append(Problem(offset, ProblemKind.MALFORMED, str(exc)))
        if expected is not None and prev != expected:
            self._breaks.append((offset, prev))
        # Chain on the *stored* hash: one modified record is one finding, not two.
        self._expected = stored
        self._seen[stored] = offset
        if self.window is not None and len(self._seen) > self.window:
            del self._seen[next(iter(self._seen))]

    def finish(self) -> list[Problem]:
        """Every problem found, in offset order."""
        out = list(self._problems)
        for offset, prev in self._breaks:
            if offset == self._first:
                msg = "first record does not start the chain (records before it removed?)"
            elif prev == GENESIS:
                msg = "chain restarts here: the writer lost its head or records were inserted"
            elif prev in self._seen:
                msg = f"links to the record at offset {self._seen[prev]}, not to its predecessor"
                msg += " (records reordered or inserted)"
            else:
                msg = "links to no record of this partition (records removed before it)"
            out.append(Problem(offset, ProblemKind.BROKEN_LINK, msg))
        return sorted(out, key=lambda p: p.offset)


def verify(
    records: Iterable[tuple[int, Mapping[str, Any] | None]], start: str | None = GENESIS
) -> list[Problem]:
    """Problems of one partition's ``(offset, datum)`` records in offset order; [] = ok."""
    verifier = ChainVerifier(start, window=None)
    for offset, datum in records:
        verifier.add(offset, datum)
    return verifier.finish()
