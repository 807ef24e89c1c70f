"""Client SDKs: ``producer`` for platforms (data furnishers), ``subscriber`` for banks,
``rights`` for the operator's and regulators' tools filing a borrower's objection or
erasure (``from streams.sdk.rights import file_dispute, file_erasure``).

The platform side in one import::

    from streams.sdk import PlatformProducer, RefusedEventError

    with PlatformProducer("shopmart", settings, on_delivery=print) as producer:
        producer.send_loan(datum)   # raises RefusedEventError, nothing sent, if invalid
"""

from streams.sdk.producer import (
    DeliveryError,
    DeliveryReport,
    PlatformProducer,
    ProducerError,
    ProducerStats,
    RefusedEventError,
)

__all__ = [
    "DeliveryError",
    "DeliveryReport",
    "PlatformProducer",
    "ProducerError",
    "ProducerStats",
    "RefusedEventError",
]
