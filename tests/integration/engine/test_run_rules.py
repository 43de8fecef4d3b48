"""Rules an attempt enforces before it loads: every reject counts, duplicates keep a defined row,
append never appends an interval twice, a target needs an index on its keys, finalize always ends DONE."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.compensate import finalize_run
from gaussdb_batch.engine.control import get_run
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.engine.state import RunStatus
from tests.integration.engine.conftest import control_rows, make_orders

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)


def _loose_source(source_dsn: str, schemas: dict, orders: str) -> str:
    """A source table without a key, with orders 4 and 7 twice (the copy has a newer comment)."""
    loose = f'"{schemas["data"]}".orders_loose'
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.execute(f"CREATE TABLE {loose} AS SELECT * FROM {orders} WHERE false")
        make_orders(cur, loose, 30)
        cur.execute(f"INSERT INTO {loose} SELECT o_orderkey, o_custkey, o_status, o_totalprice + 1000, o_orderdate,"
                    f" 'newer' FROM {loose} WHERE o_orderkey IN (4, 7)")
    return f"{schemas['data']}.orders_loose"


def test_duplicate_keys_count_toward_max_rejects_at_extract(make_ctx, orders, source_dsn, schemas):
    ctx = make_ctx(source={"table": _loose_source(source_dsn, schemas, orders)}, max_rejects=0)
    with pytest.raises(PermanentBatchError, match=r"2 rows rejected at extract exceed max_rejects=0"):
        extract(ctx, START, END)
    assert get_run(ctx, 1).status == RunStatus.FAILED


@pytest.mark.parametrize("dialect_name", ["postgres"])
def test_tie_break_keeps_the_row_with_the_greatest_value(make_ctx, orders, source_dsn, target_dsn, schemas,
                                                         dialect_name):
    ctx = make_ctx(source={"table": _loose_source(source_dsn, schemas, orders), "tie_break": ["o_totalprice"]},
                   max_rejects=5)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT o_orderkey, o_comment FROM {orders} WHERE o_orderkey IN (4, 7) ORDER BY 1")
        assert cur.fetchall() == [(4, "newer"), (7, "newer")]
    reasons = control_rows(target_dsn, schemas["control"], "SELECT DISTINCT message FROM {c}.rejects")
    assert reasons == [("duplicate key inside the source interval (the row with the greatest o_totalprice is kept)",)]


def test_append_refuses_an_interval_it_already_appended(make_ctx, orders, source_dsn, target_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 300)
    ctx = make_ctx(mode="append")
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    finalize_run(ctx, ex.run_id)
    with pytest.raises(PermanentBatchError, match=rf"already appended by run {ex.run_id}.*rollback"):
        extract(ctx, START, END)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {orders}")
        assert cur.fetchone()[0] == 300


@pytest.mark.parametrize("dialect_name", ["postgres"])
def test_a_target_without_an_index_on_its_keys_is_refused_with_the_fix(make_ctx, orders, target_dsn, schemas,
                                                                       dialect_name):
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"ALTER TABLE {orders} DROP CONSTRAINT orders_pkey")
    ctx = make_ctx(mode="append")
    with pytest.raises(PermanentBatchError, match=r"no index on its key columns \['o_orderkey'\].*CREATE UNIQUE INDEX"):
        extract(ctx, START, END)


@pytest.mark.parametrize("dialect_name", ["postgres"])
def test_finalize_ends_done_even_when_tidying_fails(make_ctx, orders, source_dsn, dialect_name):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 50)
    ctx = make_ctx()
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    ctx.spec.__dict__["retention_days"] = 10**9  # beyond what a date can subtract (parse refuses it too)
    finalize_run(ctx, ex.run_id)
    assert get_run(ctx, ex.run_id).status == RunStatus.DONE
