"""Extract -> load -> check -> finalize against real PostgreSQL, under both dialects."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.checks.reconcile import check_run
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
