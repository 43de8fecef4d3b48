"""Celery scale-out: Redis and two Celery workers (concurrency 1 each) behind the scheduler.

1. The demo batch runs across both workers: its two loading lanes (pool of 2 slots) are on
   different workers at the same time, and the target equals the source.
2. A worker killed with SIGKILL (the worker and every child process at once, like a machine
   that vanished) while one of its lanes is inside a chunk transaction: the scheduler fails
   that task instance on its missed heartbeats, Airflow retries it on the surviving worker,
   and the run still ends with the exact target. The batch appends into a table without
   any key constraint, so a chunk written twice would show as duplicate rows.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.e2e.conftest import APPEND_DAG_ID, DAG_ID, Stack, fingerprint, query, wait_until

pytestmark = pytest.mark.e2e

WORKERS = {"e2e-worker-1": 1, "e2e-worker-2": 2}


def test_demo_batch_runs_across_both_workers(celery_stack: Stack):
    st = celery_stack
    start, end = dt.date(1992, 4, 1), dt.date(1992, 7, 1)
    run_id = st.run_batch(DAG_ID, start, end, "e2e_celery_spread")
    tis = st.api.task_instances(DAG_ID, run_id)
    hosts = {t["hostname"] for t in tis if t["task_id"] in ("extract", "load", "check", "finalize")}
    assert hosts == set(WORKERS), f"tasks ran on {hosts}, expected both workers {set(WORKERS)}"
    # The two lanes that loaded chunks ran at the same time, one per worker.
    busy = query(st.target_dsn,
                 "SELECT DISTINCT c.lane FROM gaussdb_batch.chunks c JOIN gaussdb_batch.runs r USING (run_id)"
                 " WHERE r.batch = %s AND r.dag_run_id = %s", (DAG_ID, run_id))
    busy_lanes = {r[0] for r in busy}
    lane_hosts = {t["map_index"]: t["hostname"] for t in tis if t["task_id"] == "load"}
    assert {lane_hosts[lane] for lane in busy_lanes} == set(WORKERS), (busy_lanes, lane_hosts)
    src, tgt = fingerprint(st.source_dsn, start, end), fingerprint(st.target_dsn, start, end)
    assert tgt == src and tgt[0] == tgt[1] > 100


def test_sigkilled_worker_mid_chunk_leaves_the_exact_target(celery_stack: Stack):
    st = celery_stack
    start, end = dt.date(1997, 1, 1), dt.date(1998, 1, 1)
    source = fingerprint(st.source_dsn, start, end)
    assert fingerprint(st.target_dsn, start, end, table="e2e.orders_append")[0] == 0
    run_id = st.api.trigger(APPEND_DAG_ID, interval=(start, end), run_id="e2e_celery_sigkill")

    # Wait until a lane is inside a chunk transaction (its INSERT is running) and some chunks
    # are already done: the middle of the load.
    def lane_in_transaction():
        done = query(st.target_dsn,
                     "SELECT count(*) FILTER (WHERE c.status = 'DONE'), count(*) FROM gaussdb_batch.chunks c"
                     " JOIN gaussdb_batch.runs r USING (run_id) WHERE r.batch = %s AND r.dag_run_id = %s",
                     (APPEND_DAG_ID, run_id))[0]
        if not (0 < done[0] < done[1] - 10):
            return None
        active = query(st.target_dsn,
                       "SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database()"
                       "   AND application_name LIKE %s AND state = 'active' AND xact_start IS NOT NULL"
                       "   AND query ILIKE %s",
                       (f"%:{APPEND_DAG_ID}.load[%", "%insert%"))
        return (active, done) if active else None

    active, done_before = wait_until("a lane to be inside a chunk transaction mid-load", lane_in_transaction,
                                     timeout=300, interval=0.1, diagnose=st.diagnose)
    backend_pid, app_name = active[0]
    lane = int(app_name.rsplit("[", 1)[1].rstrip("]"))
    ti = next(t for t in st.api.task_instances(APPEND_DAG_ID, run_id)
              if t["task_id"] == "load" and t["map_index"] == lane)
    victim = WORKERS[ti["hostname"]]
    survivor = 3 - victim
    killed_at = time.monotonic()
    st.services.kill(f"celery-worker-{victim}")
    assert not st.services.alive(f"celery-worker-{victim}")

    # The killed lane's open transaction is rolled back by the server: its backend goes away.
    wait_until(f"backend {backend_pid} of the killed lane to end",
               lambda: not query(st.target_dsn, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend_pid,)),
               timeout=60, interval=0.5)

    run = st.wait_run(APPEND_DAG_ID, run_id, timeout=600)
    st.assert_success(APPEND_DAG_ID, run)
    elapsed = time.monotonic() - killed_at

    # Airflow noticed the lost worker and retried the lane on the surviving one.
    tries = st.api.task_tries(APPEND_DAG_ID, run_id, "load", lane)
    by_try = {t["try_number"]: t for t in tries}
    assert by_try[1]["hostname"] == ti["hostname"] and by_try[1]["state"] == "failed", tries
    final = max(by_try)
    assert final >= 2 and by_try[final]["state"] == "success", tries
    assert by_try[final]["hostname"] == f"e2e-worker-{survivor}", tries

    # Exactly the source: every row once, none lost, none doubled.
    target = fingerprint(st.target_dsn, start, end, table="e2e.orders_append")
    assert target == source, f"target {target} != source {source} (after the worker was killed {elapsed:.0f}s ago)"
    assert target[0] == target[1], "duplicate rows in the append target"
    chunks = query(st.target_dsn,
                   "SELECT count(*), count(*) FILTER (WHERE c.status = 'DONE'), sum(c.rows_written)"
                   "  FROM gaussdb_batch.chunks c JOIN gaussdb_batch.runs r USING (run_id)"
                   " WHERE r.batch = %s AND r.dag_run_id = %s", (APPEND_DAG_ID, run_id))[0]
    assert chunks[0] == chunks[1] and chunks[2] == source[0], (chunks, done_before)
