"""The openGauss semantics mode is active in gaussdb-dialect sessions, and the check is exact under it."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.checks.reconcile import check_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from tests.integration.engine.conftest import make_orders

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)
pytestmark = pytest.mark.parametrize("dialect_name", ["gaussdb"])


def test_integer_division_returns_float8_in_gaussdb_sessions(make_ctx, orders, dialect_name):
    ctx = make_ctx()
    row = ctx.one("SELECT 7/2, pg_typeof(7/2)::text, CAST(7 AS bigint)/2", purpose="probe the semantics mode")
    assert (float(row[0]), row[1], float(row[2])) == (3.5, "double precision", 3.5)


def test_the_check_finds_tampered_chunks_under_float_division(make_ctx, orders, source_dsn, target_dsn, dialect_name):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 600)
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:  # change one row in two chunks
        cur.execute(f"UPDATE {orders} SET o_totalprice = o_totalprice + 1 WHERE o_orderkey IN (150, 420)")
    result = check_run(ctx, ex.run_id)
    assert result.mismatched_first_pass == [2, 5] and result.repaired == [2, 5]
