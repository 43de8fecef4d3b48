"""Upserts of keys the target does not hold write with a plain INSERT; a key that arrives in between
(a concurrent writer) or a second unique index sends the range back through the upsert, never to
the rejects."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg2

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from tests.integration.engine.conftest import control_rows, fingerprint, interval_fingerprint, make_orders

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)


def _fill(dsn, table, n, **kw):
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        make_orders(cur, table, n, **kw)


def test_a_key_committed_by_another_writer_after_the_capture_is_upserted_and_journaled(
        make_ctx, orders, source_dsn, target_dsn, schemas):
    _fill(source_dsn, orders, 300)
    before = fingerprint(target_dsn, orders)  # empty: the capture finds no key, the chunk goes plain
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    # Another session inserts key 50 (chunk 1) and holds it uncommitted: the chunk's capture
    # cannot see it, its plain INSERT waits on it and fails with unique_violation at commit.
    other = psycopg2.connect(target_dsn)
    with other.cursor() as cur:
        cur.execute(f"INSERT INTO {orders} VALUES (50, 1, 'X', 1.00, DATE '2024-01-02', 'theirs')")
        cur.execute("SELECT pg_backend_pid()")
        other_pid = cur.fetchone()[0]
    result: dict = {}
    lane = threading.Thread(target=lambda: result.setdefault("lane", run_lane(ctx, ex.run_id, 0)))
    lane.start()
    with psycopg2.connect(target_dsn) as watch:
        watch.autocommit = True
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with watch.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_locks l JOIN pg_locks h ON h.transactionid = l.transactionid "
                            "AND h.granted AND NOT l.granted WHERE h.pid = %s", (other_pid,))
                if cur.fetchone()[0]:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the chunk never waited on the other writer's key")
    other.commit()
    other.close()
    lane.join(60)
    assert result["lane"].rows_written == 300 and result["lane"].rows_rejected == 0
    assert control_rows(target_dsn, schemas["control"], "SELECT count(*) FROM {c}.rejects WHERE run_id = %s",
                        (ex.run_id,)) == [(0,)]
    # The upsert overwrote the other writer's row and journaled it as a before-image ...
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT o_comment FROM {orders} WHERE o_orderkey = 50")
        ours = cur.fetchone()
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT o_comment FROM {orders} WHERE o_orderkey = 50")
        assert cur.fetchone() == ours
        cur.execute(f"SELECT _gb_op, o_comment FROM {ctx.undo.sql} WHERE _gb_run_id = %s AND _gb_op = 'U'",
                    (ex.run_id,))
        assert cur.fetchall() == [("U", "theirs")]
    assert check_run(ctx, ex.run_id).mismatched_first_pass == []
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, START, END)
    # ... so compensation gives the other writer its row back instead of deleting it.
    compensate_run(ctx, ex.run_id, reason="test")
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT o_orderkey, o_comment FROM {orders}")
        assert cur.fetchall() == [(50, "theirs")]
    assert fingerprint(target_dsn, orders) != before


def test_a_second_unique_index_still_isolates_exactly_the_bad_row(make_ctx, orders, source_dsn, target_dsn, schemas):
    _fill(source_dsn, orders, 200)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"CREATE UNIQUE INDEX orders_custkey_uq ON {orders} (o_custkey)")
        cur.execute(f"INSERT INTO {orders} VALUES (9999, 42, 'X', 1.00, DATE '2024-02-01', 'theirs')")
    ctx = make_ctx(chunk_rows=100, max_rejects=5)
    ex = extract(ctx, START, END)
    lane = run_lane(ctx, ex.run_id, 0)
    assert (lane.rows_written, lane.rows_rejected) == (199, 1)
    rejects = control_rows(target_dsn, schemas["control"],
                           "SELECT key_text, sqlstate FROM {c}.rejects WHERE run_id = %s", (ex.run_id,))
    assert [(k.strip("{}[]()\"' "), s) for k, s in rejects] == [("42", "23505")]
