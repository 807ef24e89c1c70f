"""End-to-end benchmark on a real broker: platform events -> ingress -> borrower (profiles,
bank feeds + audit, one transaction), through real ``creditstream worker`` processes.

    .venv/bin/python -m bench.bench_end_to_end            # the real run, ~12-15 min on 2 cores
    .venv/bin/python -m bench.bench_end_to_end --quick    # smoke test, ~2 min

Data: the seeded simulator (``streams.simulator.load``) with CURRENT event times (the last
``--period-days`` up to now, so the 7/30/90-day windows are populated), ``--bad-share``
bad records of every reason, ``--borrowers`` borrowers on 6 platforms. The first
``--events`` records are the backlog; later ones (newer) feed the paced latency phases.
``--banks`` banks each subscribe ``--bank-share`` of the borrowers through the bank SDK
(overlapping, so every borrower has 1-2 consenting banks): deliveries and audit do real
work.

Phases (each worker is a separate process, or with ``--split`` two: ``--stages
ingress,consents`` and ``--stages borrower``, whose CPU, RSS and metrics add up as one
worker's; CPU is read from /proc/<pid>/stat, and split into librdkafka's own threads and
the rest in ``worker_cpu_s_by_thread``):

1. broker A, 1 worker: the subscriptions are processed first (not timed). Then the
   worker, settled (every stage assigned and restored) and idle, is frozen (SIGSTOP)
   while the platforms publish the backlog, let go (SIGCONT) and timed until every
   stage's committed offsets reach its inputs' ends: ``events_per_s_per_core`` =
   backlog records / worker CPU seconds in that window; ``events_per_s_wall`` = records
   / wall seconds (the broker shares the 2 cores). The backlog goes in two parts: the
   first ``--faust-events`` records, then the rest. (The workers run with 60 s session
   and transaction timeouts so that being frozen is not taken for a crash.)
2. between the two parts, with the worker stopped, the obvious-Faust baseline
   (``bench/faust_e2e_baseline.py``, a subprocess) runs on the first part's records:
   per-event decode, validate, pseudonymize, dedup table, profile table (RocksDB +
   changelog), ``await send`` of every profile, feed and audit record, measured the same
   way. ``ratio_to_obvious_faust`` = the real worker's events/s per core on those same
   records (the ``subset`` row) / the baseline's.
3. latency: against the caught-up worker the platforms publish at ``--loads`` x the
   measured wall rate for ``--latency-seconds`` each; event-to-feed latency = time the
   bench's read_committed bank consumer received the feed record - the record's
   ``ingested_at`` (the platform record's Kafka timestamp, set when the platform
   produced it), so it includes the producer's linger and every transaction commit.
   ``by_stage_ms`` splits it by where the event had got to (each stage's output
   produced: ingress, then the borrower stage, whose feed and profile-updates records
   share one transaction), ``p50_ms_by_third`` shows whether the worker kept up, and
   ``broker_cores_used`` / ``bench_cores_used`` what else used the cores meanwhile (the
   bench's own: the paced producers and the watcher).
4. memory: the worker's RSS / borrowers it holds, extrapolated linearly to 1 M borrowers.
5. restore: SIGKILL the worker, start it again (same state dir, so the same static
   group membership), time until /ready answers 200 with every borrower restored.
6. broker B, 2 workers (same app id, own state dirs, both settled): the whole backlog,
   timed the same way.

Writes ``bench/results/end_to_end.json`` (``--quick``: a file in the temp dir unless
``--out``) and prints a summary. Nothing is asserted. Every broker and worker started
is stopped on exit, also on Ctrl-C or SIGTERM; the work dir is deleted unless ``--keep``.
"""
