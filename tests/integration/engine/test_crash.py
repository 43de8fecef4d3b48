"""A killed lane loses and duplicates nothing; concurrent lanes never load the same chunk."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from tests.integration.engine.conftest import (
    control_rows,
    fingerprint,
    interval_fingerprint,
    make_orders,
    slow_down,
)

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def _lane_process(spec: dict, run_id: int, lane: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'plugins'}")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.engine.lane_proc",
         json.dumps({"spec": spec, "run_id": run_id, "lane": lane})],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _writing_sessions(dsn: str) -> int:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state = 'active' AND (query LIKE 'MERGE%%' OR query LIKE 'INSERT%%' OR query LIKE 'COPY%%')"
        )
        return cur.fetchone()[0]


def test_lane_killed_mid_chunk_then_resumed_loses_and_duplicates_nothing(
        spec_data, make_ctx, orders, source_dsn, target_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 3000)
    slow_down(target_dsn, orders, ms_per_row=2)
    data = spec_data(chunk_rows=100)
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    assert ex.chunks == 30

    proc = _lane_process(data, ex.run_id, lane=0)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = control_rows(target_dsn, schemas["control"],
                                "SELECT count(*) FROM {c}.chunks WHERE run_id = %s AND status = 'DONE'", (ex.run_id,))[0][0]
            if done >= 3 and _writing_sessions(target_dsn):
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        else:
            raise AssertionError("the lane never got going")
        os.kill(proc.pid, signal.SIGKILL)  # in the middle of a chunk's write
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = dict(control_rows(
        target_dsn, schemas["control"],
        "SELECT chunk_no, finished_at FROM {c}.chunks WHERE run_id = %s AND status = 'DONE'", (ex.run_id,)))
    assert 3 <= len(before) < 30

    run_lane(ctx, ex.run_id, lane=1)  # the retry: waits for the dead session's chunk, then loads the rest

    chunks = control_rows(target_dsn, schemas["control"],
                          "SELECT chunk_no, status, loads, finished_at FROM {c}.chunks WHERE run_id = %s", (ex.run_id,))
    assert all(status == "DONE" and loads == 1 for _, status, loads, _ in chunks), chunks
    for no, _, _, finished in chunks:
        if no in before:
            assert finished == before[no], f"chunk {no} was finished before the kill and was redone"
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, START, END)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) - count(DISTINCT o_orderkey) FROM {orders}")
        assert cur.fetchone()[0] == 0
    assert check_run(ctx, ex.run_id).mismatched_first_pass == []


@pytest.mark.parametrize("conn_extra", [{}, {"skip_locked": False}], ids=["skip_locked", "advisory_claim"])
def test_concurrent_lanes_never_load_the_same_chunk(spec_data, make_ctx, orders, source_dsn, target_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 2000)
    slow_down(target_dsn, orders, ms_per_row=0.5)
    data = spec_data(chunk_rows=50)
    ctx = make_ctx(chunk_rows=50)
    ex = extract(ctx, START, END)
    procs = [_lane_process(data, ex.run_id, lane) for lane in range(4)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    claimed = [no for r in results for no in r["chunk_nos"]]
    assert sorted(claimed) == list(range(1, ex.chunks + 1)), "a chunk was loaded twice or not at all"
    assert sum(1 for r in results if r["chunks"]) >= 2, "the lanes did not run concurrently"
    assert sum(r["rows_written"] for r in results) == ex.rows
    loads = control_rows(target_dsn, schemas["control"],
                         "SELECT DISTINCT loads FROM {c}.chunks WHERE run_id = %s", (ex.run_id,))
    assert loads == [(1,)]
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, START, END)
