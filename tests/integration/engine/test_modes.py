"""The load modes: append inserts only; delete_insert also removes the interval's vanished rows."""

from __future__ import annotations

import datetime as dt
import json

import psycopg2

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import plan_chunk, purge_statements, run_lane
from gaussdb_batch.engine.state import PURGE_CHUNK
from tests.integration.engine.conftest import control_rows, fingerprint, interval_fingerprint, make_orders

UTC = dt.timezone.utc
D1, D2, D4 = (dt.datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 4))


def _exec(dsn, sql):
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(sql)


def test_append_inserts_and_rejects_existing_keys(make_ctx, orders, source_dsn, target_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 300)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 3, start_key=1)  # keys 1..3 already there
    ctx = make_ctx(mode="append", chunk_rows=100, max_rejects=10)
    ex = extract(ctx, D1, D4)
    lane = run_lane(ctx, ex.run_id, 0)
    assert lane.rows_written == 297
    rejects = control_rows(target_dsn, schemas["control"], "SELECT key_text, sqlstate FROM {c}.rejects", ())
    assert sorted(rejects) == [("1", "23505"), ("2", "23505"), ("3", "23505")]


def test_delete_insert_removes_vanished_rows_of_the_interval_only(make_ctx, orders, source_dsn, target_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 600)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 600)
        make_orders(cur, orders, 50, start_key=5000, day0="2024-01-02", days=1)  # vanished at the source
        make_orders(cur, orders, 50, start_key=6000, day0="2024-02-01", days=1)  # outside the interval
        cur.execute(f"UPDATE {orders} SET o_comment = 'stale'")
    before = fingerprint(target_dsn, orders)
    ctx = make_ctx(mode="delete_insert", chunk_rows=100)
    ex = extract(ctx, D1, D4)
    assert ex.chunks == 6
    run_lane(ctx, ex.run_id, 0)
    check_run(ctx, ex.run_id)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {orders} WHERE o_orderkey >= 5000 AND o_orderkey < 6000")
        assert cur.fetchone()[0] == 0
        cur.execute(f"SELECT count(*) FROM {orders} WHERE o_orderkey >= 6000")
        assert cur.fetchone()[0] == 50
    in_interval = fingerprint_where(target_dsn, orders, "o_orderdate < '2024-01-04'")
    assert in_interval == interval_fingerprint(source_dsn, orders, D1, D4)
    compensate_run(ctx, ex.run_id, reason="test")
    assert fingerprint(target_dsn, orders) == before


def _landing_scans(plan: dict, landing: str) -> list[tuple[int, float]]:
    """(loops, rows per loop) of every plan node that reads ``landing``."""
    found = [(int(plan["Actual Loops"]), float(plan["Actual Rows"]))] if plan.get("Relation Name") == landing else []
    for child in plan.get("Plans", []):
        found += _landing_scans(child, landing)
    return found


def test_the_purge_reads_the_landing_once_not_once_per_target_row(make_ctx, orders, source_dsn, target_dsn):
    """delete_insert's purge chunk must not be quadratic: its anti join against the landing (no key
    index there) reads the landing once per statement, whatever the interval's size. Counted with
    EXPLAIN ANALYZE under the plan settings the lane uses for that chunk, then rolled back."""
    n, vanished = 3000, 200
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, n - vanished)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, n)
        cur.execute(f"ANALYZE {orders}")
    ctx = make_ctx(mode="delete_insert", chunk_rows=500)
    ex = extract(ctx, D1, D4)
    landing = ctx.landing(ex.run_id)
    params = {"run_id": ex.run_id, "chunk_no": PURGE_CHUNK, "start": D1, "end": D4}
    conn = ctx.target_hook.get_conn()
    try:
        with conn.cursor() as cur:
            plan_chunk(cur, ctx, PURGE_CHUNK, 1)
            deleted = []
            for stmt in purge_statements(ctx, ex.run_id):
                cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {stmt}", params)
                raw = cur.fetchone()[0]
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
                scans = _landing_scans(plan, landing.name)
                assert scans, plan
                # one pass (a parallel scan counts each worker); per-row probing would loop ~n times
                assert max(loops for loops, _ in scans) <= 4, scans
                assert sum(loops * rows for loops, rows in scans) <= 2 * (n - vanished), scans
                deleted.append(plan.get("Actual Rows"))
    finally:
        conn.rollback()
        conn.close()
    lane = run_lane(ctx, ex.run_id, 0)
    assert lane.rows_written == n - vanished
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {orders}")
        assert cur.fetchone()[0] == n - vanished


def fingerprint_where(dsn, table, where):
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') "
                    f"FROM {table} t WHERE {where}")
        return cur.fetchone()
