"""A bank's record of the last profile version it applied per customer_ref.

:class:`VersionLedger` is the pure dedup/order rule of the bank SDK (no I/O):

* ``PROFILE_UPDATE`` and ``ALERT`` records carry a profile version. One is admitted only
  if its version is greater than the last admitted version of its customer_ref, which
  it then becomes; a duplicate (same version) or an older version is dropped. So, for
  any interleaving or duplication of the input, the admitted versioned records of a
  customer_ref are strictly increasing.
* ``SUBSCRIPTION_ACK``, ``SUBSCRIPTION_REJECT``, ``NO_DATA_YET`` and
  ``CORRECTION_NOTICE`` always pass and leave the ledger as it is: they answer a
  request or tell of a correction, and a bank must see each one. An
  ack's snapshot does not advance the ledger on purpose: the change that produced that
  version may still arrive as an ``ALERT`` of the same version, and dropping an alert
  is worse than showing a profile twice.

:class:`LedgerStore` keeps the ledger in a small sqlite3 file (one row per
customer_ref, upserted: a write costs the changed rows, not the whole map), so dedup
survives restarts of the bank's process.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

#: Kinds whose profile_version orders and dedups them.
VERSIONED_KINDS = frozenset({"PROFILE_UPDATE", "ALERT"})


class VersionLedger:
    """Last applied profile_version per customer_ref; see the module docstring."""

    def __init__(self, applied: Mapping[str, int] | None = None) -> None:
        self._applied: dict[str, int] = dict(applied or {})
        self._dirty: dict[str, int] = {}

    def last(self, customer_ref: str) -> int | None:
        """The last applied version of ``customer_ref``, None if none yet."""
        return self._applied.get(customer_ref)

    def admit(self, customer_ref: str, version: int, kind: str) -> bool:
        """True when the record goes to the bank; records the new version if so."""
        if kind not in VERSIONED_KINDS:
            return True
        last = self._applied.get(customer_ref)
        if last is not None and version <= last:
            return False
        self._set(customer_ref, version)
        return True

    def restore(self, customer_ref: str, version: int | None) -> None:
        """Undo an admission: put back the version ``last`` returned before it."""
        if version is None:
            # No version before means no row on disk either (the file is loaded whole).
            self._applied.pop(customer_ref, None)
            self._dirty.pop(customer_ref, None)
        else:
            self._set(customer_ref, version)

    def _set(self, customer_ref: str, version: int) -> None:
        self._applied[customer_ref] = version
        self._dirty[customer_ref] = version

    def take_changes(self) -> dict[str, int]:
        """The versions changed since the last call (to persist), and forget them."""
        changes, self._dirty = self._dirty, {}
        return changes

    def snapshot(self) -> dict[str, int]:
        """A copy of every applied version."""
        return dict(self._applied)

    def __len__(self) -> int:
        return len(self._applied)


class LedgerStore:
    """The ledger's file: sqlite3, one row per customer_ref; commits are durable."""

    def __init__(self, path: Path | str, bank: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS applied "
                "(customer_ref TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('bank', ?)", (bank,))
        (owner,) = self._db.execute("SELECT value FROM meta WHERE key = 'bank'").fetchone()
        if owner != bank:
            # One bank's versions say nothing about another's customer_refs.
            self._db.close()
            raise ValueError(f"{self.path} is the ledger of bank {owner!r}, not {bank!r}")

    def load(self) -> dict[str, int]:
        return {ref: int(v) for ref, v in self._db.execute("SELECT * FROM applied")}

    def save(self, changes: Mapping[str, int]) -> None:
        """Upsert ``changes`` in one transaction (durable when this returns)."""
        if not changes:
            return
        with self._db:
            self._db.executemany(
                "INSERT INTO applied VALUES (?, ?) "
                "ON CONFLICT(customer_ref) DO UPDATE SET version = excluded.version",
                changes.items(),
            )

    def close(self) -> None:
        self._db.close()
