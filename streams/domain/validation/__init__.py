"""Pure validation and normalization of platform events into ``ExchangeEvent``.

The package's public API is the names below; import them from here
(``from streams.domain.validation import validate_event``):

* ``limits``: :class:`ValidationLimits` and :data:`DEFAULT_LIMITS` (the tunable bounds),
  :class:`InvalidEventError` (the refusal: a stable :class:`~streams.wire.rejects.Reason`
  code, never a payload value) and :func:`check_size` (refuse before decoding).
* ``rules``: :func:`validate_event` (the SDK's pre-check) and :func:`to_exchange_event`
  (validate, then pseudonymize into the internal event).
* ``datum``: :func:`to_avro` / :func:`from_avro` (``ExchangeEvent`` to and from the datum
  of ``io.creditstream.ExchangeEvent``) and :func:`to_epoch_ms`.

No Kafka import: the ingress stage, the platform SDK and tests all call this.
"""

from streams.domain.validation.datum import from_avro, to_avro, to_epoch_ms
from streams.domain.validation.limits import (
    DEFAULT_LIMITS,
    InvalidEventError,
    ValidationLimits,
    check_size,
)
from streams.domain.validation.rules import to_exchange_event, validate_event

__all__ = [
    "DEFAULT_LIMITS",
    "InvalidEventError",
    "ValidationLimits",
    "check_size",
    "from_avro",
    "to_avro",
    "to_epoch_ms",
    "to_exchange_event",
    "validate_event",
]
