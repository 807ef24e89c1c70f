"""End-to-end benchmark on a real broker: the entry point (the benchmark is ``bench/e2e``).

    .venv/bin/python -m bench.bench_end_to_end            # the real run, ~12-15 min on 2 cores
    .venv/bin/python -m bench.bench_end_to_end --quick    # smoke test, ~2 min
    .venv/bin/python bench/bench_end_to_end.py --help     # what it measures, every option

What it measures, phase by phase, is ``bench.e2e``'s docstring (and ``--help``). Its parts:

* ``e2e/cli.py``: options, work dir, clean-up on exit, the report file;
* ``e2e/run.py``: the phases in order on two fresh brokers;
* ``e2e/data.py``: simulator records, bank subscriptions, topics, publishing;
* ``e2e/worker.py`` and ``e2e/probe.py``: worker processes (/proc CPU and RSS, /ready,
  /metrics) and the stage groups' committed offsets against their inputs' ends;
* ``e2e/backlog.py``, ``e2e/baseline.py``, ``e2e/latency.py``, ``e2e/restore.py``: one
  phase each (throughput, the obvious-Faust baseline, latency under load, restore);
* ``e2e/report.py``: the JSON's summary and data, and the printed summary;
* ``e2e/reaper.py``: the detached watcher that kills and deletes leftovers if this dies.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e.cli import main

if __name__ == "__main__":
    sys.exit(main())
