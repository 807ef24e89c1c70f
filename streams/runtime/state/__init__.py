"""State on disk: one RocksDB store per stage partition, with its changelog offset.

The public API is :class:`~streams.runtime.state.store.PartitionStore`. The stages'
changelog topics stay the truth; a store is a local copy that lets recovery replay only
the changelog records after the offset it reaches (issue 15: the borrower stage and the
ingress dedup memory move onto it next).
"""

from streams.runtime.state.store import FORMAT, PartitionStore

__all__ = ["FORMAT", "PartitionStore"]
