"""Running an interval again converges to the same target; so do three intervals loaded then reloaded."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run, finalize_run
from gaussdb_batch.engine.control import get_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine import state
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.engine.state import RunStatus
from tests.integration.engine.conftest import control_rows, fingerprint, interval_fingerprint, make_orders

UTC = dt.timezone.utc
DAYS = [dt.datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3, 4)]


def _run(ctx, start, end):
    ex = extract(ctx, start, end)
    run_lane(ctx, ex.run_id, 0)
    run_lane(ctx, ex.run_id, 1)
    check_run(ctx, ex.run_id)
    finalize_run(ctx, ex.run_id)
    return ex


def test_same_interval_twice_converges(make_ctx, orders, source_dsn, target_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 1200)
    ctx = make_ctx(chunk_rows=100)
    first = _run(ctx, DAYS[0], DAYS[3])
    once = fingerprint(target_dsn, orders)
    second = _run(ctx, DAYS[0], DAYS[3])
    assert (second.run_id, second.attempt) != (first.run_id, first.attempt) and second.attempt == 2
    assert fingerprint(target_dsn, orders) == once == interval_fingerprint(source_dsn, orders, DAYS[0], DAYS[3])


def test_three_intervals_loaded_then_reloaded_converge(make_ctx, orders, source_dsn, target_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 1500)
    ctx = make_ctx(chunk_rows=128)
    for a, b in zip(DAYS, DAYS[1:]):
        _run(ctx, a, b)
    loaded = fingerprint(target_dsn, orders)
    assert loaded == interval_fingerprint(source_dsn, orders, DAYS[0], DAYS[3])
    for a, b in zip(DAYS, DAYS[1:]):
        _run(ctx, a, b)
    assert fingerprint(target_dsn, orders) == loaded


def test_resuming_an_unfinished_run_keeps_its_plan_and_loads_each_chunk_once(
        make_ctx, orders, source_dsn, target_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 900)
    ctx = make_ctx(chunk_rows=100)
    first = extract(ctx, DAYS[0], DAYS[3])
    run_lane(ctx, first.run_id, 0, max_chunks=4)  # the run dies half-way
    again = extract(ctx, DAYS[0], DAYS[3])  # a retry of the same DAG run: same attempt, same plan
    assert (again.run_id, again.attempt, again.resumed) == (first.run_id, first.attempt, True)
    assert (again.rows, again.chunks) == (first.rows, first.chunks)
    run_lane(ctx, again.run_id, 0)
    check_run(ctx, again.run_id)
    loads = control_rows(target_dsn, schemas["control"],
                         "SELECT chunk_no, loads FROM {c}.chunks WHERE run_id = %s ORDER BY chunk_no", (first.run_id,))
    assert [n for _, n in loads] == [1] * first.chunks, "a chunk was loaded twice"
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, DAYS[0], DAYS[3])


def test_a_failed_attempt_is_extracted_again_and_stays_compensable(make_ctx, orders, source_dsn, target_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 900)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 300, start_key=100)
        cur.execute(f"UPDATE {orders} SET o_comment = 'pre-run'")
    before = fingerprint(target_dsn, orders)
    ctx = make_ctx(chunk_rows=100)
    first = extract(ctx, DAYS[0], DAYS[3])
    run_lane(ctx, first.run_id, 0, max_chunks=4)
    state.fail(ctx, first.run_id, "a lane failed")  # the attempt failed half-way
    assert get_run(ctx, first.run_id).status == RunStatus.FAILED
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.execute(f"UPDATE {orders} SET o_totalprice = o_totalprice + 1 WHERE o_orderkey <= 150")
    again = extract(ctx, DAYS[0], DAYS[3])  # re-run from extract: same run, new landing
    assert again.run_id == first.run_id and again.resumed
    run_lane(ctx, again.run_id, 0)
    check_run(ctx, again.run_id)
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, DAYS[0], DAYS[3])
    compensate_run(ctx, again.run_id, reason="test")  # still exact: first before-images won
    assert fingerprint(target_dsn, orders) == before
    assert get_run(ctx, again.run_id).status == RunStatus.COMPENSATED


def test_an_extract_that_fails_leaves_the_attempt_failed_not_extracting(make_ctx, orders, source_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 50)
        cur.execute(f"ALTER TABLE {orders} DROP COLUMN o_comment")  # the source lacks a target column
    ctx = make_ctx(chunk_rows=100)
    with pytest.raises(Exception):
        extract(ctx, DAYS[0], DAYS[3])
    run = get_run(ctx, 1)
    assert run.status == RunStatus.FAILED and "extract failed" in run.message
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.execute(f"ALTER TABLE {orders} ADD COLUMN o_comment varchar(79)")
    again = extract(ctx, DAYS[0], DAYS[3])
    assert again.run_id == run.run_id and again.rows == 50


@pytest.mark.parametrize("dialect_name", ["postgres"])
def test_missing_key_column_is_refused_before_any_statement_writes(make_ctx, orders, target_dsn, schemas, dialect_name):
    from gaussdb_batch.engine.errors import PermanentBatchError

    ctx = make_ctx(keys=["o_orderkey", "no_such_column"])
    with pytest.raises(PermanentBatchError, match=r"key columns \['no_such_column'\]"):
        extract(ctx, DAYS[0], DAYS[1])
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schemas["control"],))
        assert cur.fetchone()[0] == 0, "the control schema was created before the spec was validated"
