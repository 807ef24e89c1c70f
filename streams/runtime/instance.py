"""A worker's stable identity across restarts.

Every stage derives its ``group.instance.id`` (static group membership) and its
``transactional.id`` from this identity. Why it must survive a restart: a worker that
crashes and comes back with the same identity

* takes its partitions back at once, without waiting for the session timeout, and
* fences its previous incarnation's producer on ``init_transactions``, which aborts
  the crashed transaction immediately instead of after ``transaction.timeout.ms``
  (an open transaction holds back every read-committed consumer of its partitions).

So the identity lives with the worker's state: ``CREDITSTREAM_INSTANCE_ID`` when set
(e.g. a Kubernetes StatefulSet pod name), else a random id written once to
``<state_dir>/instance-id``. Two live workers must never share it: the broker would
fence one of them (``FENCED_INSTANCE_ID``), which is the right answer to that mistake.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path

from streams.errors import ConfigError
from streams.settings import Settings

FILE_NAME = "instance-id"
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def _fresh() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:40] or "worker"
    return f"{host}-{uuid.uuid4().hex[:10]}"


def instance_id(settings: Settings) -> str:
    """This worker's identity: the setting, else the one kept in the state dir (created
    on first use, atomically, so two racing starts of one worker agree)."""
    if settings.instance_id:
        return settings.instance_id
    path = Path(settings.state_dir) / FILE_NAME
    existing = _read(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    # One temporary name per call, not per process: the stages of one worker are
    # threads that may all start here at once.
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(_fresh() + "\n")
    try:
        os.link(tmp, path)  # fails if another start won the race: use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    found = _read(path)
    if not found:
        raise ConfigError(f"{path} does not hold a valid instance id: fix or delete it")
    return found


def _read(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text if _VALID.match(text) else None
