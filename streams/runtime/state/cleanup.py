"""Stores of partitions a worker no longer owns: kept for a while, then deleted.

A revoked partition's store stays on disk so that, if the partition comes back (a
rebalance that moves it away and back, a worker scaled 1 -> 2 -> 1), recovery replays
only the changelog's tail. Kept for ever, stores of partitions that moved to other
workers for good would fill the disk, so a stage deletes the store directories under
``<state_dir>/<stage>`` that it does not own and that were last closed more than
``state_cleanup_delay_s`` ago (Kafka Streams' ``state.cleanup.delay.ms``). A store's
directory is touched when it closes (``PartitionStore.close``), so its mtime says when
it was last owned.

Cleaning runs only while the stage owns some partition: a worker that has just started
(or lost everything for a moment) has not been told yet which of its stores it will
get back, and deleting them would cost full restores.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


class StateCleaner:
    """Deletes one stage's unowned, long-closed partition stores (see the module doc)."""

    def __init__(self, root: Path, delay_s: float, every_s: float = 60.0) -> None:
        self.root = root
        self.delay_s = delay_s
        self.every_s = every_s
        self._next = time.monotonic() + every_s

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def clean(self, owned: Iterable[int]) -> list[int]:
        """Delete the stores of partitions not in ``owned`` closed over ``delay_s`` ago;
        returns their partitions (none while ``owned`` is empty)."""
        self._next = time.monotonic() + self.every_s
        keep = set(owned)
        if not keep or not self.root.is_dir():
            return []
        gone: list[int] = []
        cutoff = time.time() - self.delay_s
        for path in self.root.iterdir():
            if not path.name.isdigit() or int(path.name) in keep:
                continue
            if path.stat().st_mtime > cutoff:
                continue
            log.info(
                "state store %s deleted: not owned here for over %.0f s "
                "(state_cleanup_delay_s); if the partition comes back it is restored in full",
                path,
                self.delay_s,
            )
            shutil.rmtree(path, ignore_errors=True)
            gone.append(int(path.name))
        return sorted(gone)
