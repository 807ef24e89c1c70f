"""One subscription request, from raw bytes to what the consent stage writes (pure).

:func:`handle` gets a record of ``banks.<bank>.subscriptions`` with its coordinates and
returns either a :class:`Forward` (the validated, pseudonymized request for
``exchange.consents``, keyed by borrower_id) or a :class:`Refusal` (the
``SUBSCRIPTION_REJECT`` feed record for the bank, answered at once). The bank comes from
the topic name only; a payload can never name another bank. Refusals carry no personal
data, so they are neither audited nor billed (``streams.domain.delivery``). The raw national ID
stops here: nothing returned holds it. No Kafka import.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.domain.consent import (
    ConsentLimits,
    ConsentReason,
    RefusedRequestError,
    parse_request,
    refusal_from_decode_error,
    refused,
)
from streams.domain.delivery import Delivery, answer_deliveries
from streams.domain.privacy import Pseudonymizer
from streams.errors import DecodeError
from streams.topics import bank_of
from streams.wire.codec import SniffingCodec
from streams.wire.consents import ConsentRequest, encode_request
from streams.wire.rejects import Reason, reject_key
from streams.wire.schemas import SUBSCRIPTION

EXPECTED = frozenset({SUBSCRIPTION})


@dataclass(frozen=True, slots=True)
class Forward:
    """An accepted request: ``value`` goes to exchange.consents keyed by ``key``."""

    bank: str
    request: ConsentRequest
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused request: ``delivery`` is the reject on the bank's feed."""

    bank: str
    reason: ConsentReason
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class ConsentProcessor:
    """Decode, validate and pseudonymize with fixed collaborators."""

    codec: SniffingCodec
    pseudonymizer: Pseudonymizer
    limits: ConsentLimits
    max_record_bytes: int

    def handle(
        self, topic: str, partition: int, offset: int, value: bytes | None, now_ms: int
    ) -> Forward | Refusal:
        """Process one record (``ValueError`` if ``topic`` is not a subscriptions topic)."""
        bank = bank_of(topic)
        if bank is None or not topic.endswith(".subscriptions"):
            raise ValueError(f"{topic} is not a banks.<bank>.subscriptions topic")
        try:
            request = self._parse(bank, value or b"", now_ms)
        except RefusedRequestError as exc:
            answer = refused(bank, reject_key(topic, partition, offset), exc)
            (delivery,) = answer_deliveries(answer, "", None, 0, now_ms)
            return Refusal(bank, exc.reason, delivery)
        key = request.borrower_id.encode()
        return Forward(bank, request, key, encode_request(request))

    def _parse(self, bank: str, value: bytes, now_ms: int) -> ConsentRequest:
        if len(value) > self.max_record_bytes:
            msg = f"record is larger than {self.max_record_bytes} bytes"
            raise refusal_from_decode_error(DecodeError(Reason.OVERSIZE, msg, b""))
        try:
            _name, datum = self.codec.decode(value, EXPECTED)
        except DecodeError as exc:
            raise refusal_from_decode_error(exc) from None
        return parse_request(bank, datum, self.pseudonymizer, now_ms, self.limits)
