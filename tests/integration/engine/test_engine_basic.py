"""Extract -> load -> check -> finalize against real PostgreSQL, under both dialects."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run, finalize_run
from gaussdb_batch.engine.control import get_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane

from tests.integration.engine.conftest import fingerprint, interval_fingerprint, make_orders

UTC = dt.timezone.utc
D1, D3 = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 3, tzinfo=UTC)


def _source_rows(source_dsn, orders, n=1000):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, n)


@pytest.mark.parametrize("same_db", [False, True])
def test_run_lands_loads_checks_and_finalizes(make_ctx, orders, source_dsn, target_dsn, same_db):
    if same_db:
        # Same database: source table is a second table next to the target.
        with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
            cur.execute(f"CREATE TABLE {orders}_src (LIKE {orders} INCLUDING ALL)")
            make_orders(cur, f"{orders}_src", 1000)
        ctx = make_ctx(source={"conn_id": "gb_target", "table": orders.replace('"', '') + "_src"})
        expected = None
    else:
        _source_rows(source_dsn, orders)
        ctx = make_ctx()
        expected = interval_fingerprint(source_dsn, orders, D1, D3)
    assert ctx.spec.same_db is same_db
    ex = extract(ctx, D1, D3)
    assert ex.rows == 667 and ex.chunks == 7 and ex.rejected == 0
    lanes = [run_lane(ctx, ex.run_id, lane) for lane in (0, 1)]
    assert sum(l.rows_written for l in lanes) == 667
    result = check_run(ctx, ex.run_id)
    assert result.mismatched_first_pass == []
    summary = finalize_run(ctx, ex.run_id)
    assert summary["rows_loaded"] == 667
    assert get_run(ctx, ex.run_id).status == "DONE"
    if expected is not None:
        assert fingerprint(target_dsn, orders) == tuple(expected)


def test_compensation_restores_the_pre_run_target(make_ctx, orders, source_dsn, target_dsn):
    _source_rows(source_dsn, orders)
    # Target starts with a mix: rows the run will update, rows it will not touch.
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 300, start_key=500)
        cur.execute(f"UPDATE {orders} SET o_comment = 'before ' || o_orderkey, o_totalprice = NULL")
    before = fingerprint(target_dsn, orders)
    ctx = make_ctx()
    ex = extract(ctx, D1, D3)
    run_lane(ctx, ex.run_id, 0)
    assert fingerprint(target_dsn, orders) != before
    res = compensate_run(ctx, ex.run_id, reason="test")
    assert res.rows_restored > 0 and res.rows_deleted > res.rows_restored
    assert fingerprint(target_dsn, orders) == before
    assert compensate_run(ctx, ex.run_id).already_compensated
    assert fingerprint(target_dsn, orders) == before


def test_chunks_record_rows_inserted_and_updated(make_ctx, orders, source_dsn, target_dsn, schemas):
    """A first load splits each chunk's rows into new and replaced ones (its before-images)."""
    from tests.integration.engine.conftest import control_rows

    _source_rows(source_dsn, orders)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:  # 100 of the interval's keys exist already
        make_orders(cur, orders, 100, start_key=1)
    ctx = make_ctx()
    ex = extract(ctx, D1, D3)
    for lane in (0, 1):
        run_lane(ctx, ex.run_id, lane)
    existed = control_rows(target_dsn, schemas["control"],
                           f"SELECT count(*) FROM {{c}}.chunks ch JOIN {{c}}.land_{ex.run_id} s"
                           " ON s._gb_seq BETWEEN ch.seq_lo AND ch.seq_hi WHERE ch.run_id = %s",
                           (ex.run_id,))  # sanity: the chunks cover every landed row
    assert existed[0][0] == 667
    rows = control_rows(target_dsn, schemas["control"],
                        "SELECT sum(rows_written), sum(rows_inserted), sum(rows_updated), count(*) - count(rows_updated)"
                        " FROM {c}.chunks WHERE run_id = %s", (ex.run_id,))
    written, inserted, updated, unknown = rows[0]
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {orders} WHERE o_orderkey <= 100 AND o_orderdate < %s", (D3.date(),))
        expected_updated = cur.fetchone()[0]
    assert (written, inserted, updated, unknown) == (667, 667 - expected_updated, expected_updated, 0)
    assert 0 < expected_updated < 100
