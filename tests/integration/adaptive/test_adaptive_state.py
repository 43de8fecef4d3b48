"""batch_state, backlog and chunk-size adaptation against real PostgreSQL, under both dialects."""

from __future__ import annotations

import asyncio
import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine import adaptive, control
from gaussdb_batch.engine.compensate import finalize_run
from gaussdb_batch.engine.control import ensure_control_schema
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.triggers.backlog import BacklogTrigger

from tests.integration.engine.conftest import control_rows, make_orders
from tests.unit.test_metrics import fresh_stats, sink  # noqa: F401  (fixtures)

UTC = dt.timezone.utc
D1, D2, D3 = (dt.datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3))
SCHEDULE = {"type": "adaptive", "t_min": 1, "t_max": 9, "step": 2, "backlog_threshold": 10}


@pytest.fixture
def adaptive_ctx(make_ctx, orders):
    def make(**overrides):
        ctx = make_ctx(schedule=SCHEDULE, start_date="2023-12-31", **overrides)
        ensure_control_schema(ctx)
        return ctx

    return make


def test_state_is_created_then_updated_in_one_row(adaptive_ctx, target_dsn, schemas):
    ctx = adaptive_ctx()
    assert control.read_state(ctx) == control.BatchState()
    adaptive.record_poll(ctx, 7.0, 12)
    control.write_state(ctx, chunk_rows=300)
    adaptive.record_poll(ctx, 5.0, 40)
    st = control.read_state(ctx)
    assert (st.period_seconds, st.chunk_rows, st.backlog) == (5.0, 300, 40)
    assert control_rows(target_dsn, schemas["control"], "SELECT count(*) FROM {c}.batch_state") == [(1,)]


def test_poll_starts_at_start_date_and_t_max_then_resumes_the_stored_period(adaptive_ctx):
    ctx = adaptive_ctx()
    first = adaptive.poll_start(ctx)
    assert first == adaptive.Poll(dt.datetime(2023, 12, 31, tzinfo=UTC), 9.0)
    adaptive.record_poll(ctx, 3.0, 50)
    assert adaptive.poll_start(ctx).period == 3.0


def _source_with_times(source_dsn, orders):
    """Three rows stamped before, at and after a watermark, plus one in the future."""
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.execute(f"ALTER TABLE {orders} ADD COLUMN stamped timestamptz")
        make_orders(cur, orders, 4)
        cur.execute(f"UPDATE {orders} SET stamped = CASE o_orderkey WHEN 1 THEN timestamptz '2024-05-01 09:59:59+00'"
                    " WHEN 2 THEN timestamptz '2024-05-01 10:00:00+00' WHEN 3 THEN now() - interval '1 minute'"
                    " ELSE now() + interval '1 day' END")
    c.close()


def test_backlog_counts_due_rows_from_the_watermark_on(conns, orders, source_dsn):
    from gaussdb_batch.hooks.gaussdb import GaussDBHook

    _source_with_times(source_dsn, orders)
    table = TableRef.parse(orders.replace('"', ""))
    with GaussDBHook(gaussdb_conn_id=conns["source"]) as hook:
        before = dt.datetime.now(UTC)
        n, cutoff = adaptive.measure_backlog(hook, table, "stamped", dt.datetime(2024, 5, 1, 10, tzinfo=UTC))
        # the row at the watermark and the one due now; not the one before, not the future one
        assert n == 2 and cutoff >= before - dt.timedelta(seconds=5)
        n, _ = adaptive.measure_backlog(hook, table, "stamped", dt.datetime.now(UTC))
        assert n == 0


def test_trigger_waits_its_period_then_reports_the_backlog(conns, orders, source_dsn):
    _source_with_times(source_dsn, orders)
    trigger = BacklogTrigger(conn_id=conns["source"], table=orders.replace('"', ""), column="stamped",
                             watermark="2024-05-01T10:00:00+00:00", period=0.3, batch="orders_sync")

    async def first_event():
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["backlog"] == 2 and payload["period"] == 0.3 and payload["waited"] >= 0.3
    assert payload["watermark"] == "2024-05-01T10:00:00+00:00"
    assert dt.datetime.fromisoformat(payload["cutoff"]) > dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert payload["polls"] == [[0.3, pytest.approx(payload["waited"], abs=1e-3), 2]]


def _load(ctx, start, end):
    ex = extract(ctx, start, end)
    for lane in (0, 1):
        run_lane(ctx, ex.run_id, lane)
    finalize_run(ctx, ex.run_id)
    return ex.run_id


def _planned_sizes(target_dsn, control, run_id):
    return control_rows(target_dsn, control, "SELECT rows_in FROM {c}.chunks WHERE run_id = %s ORDER BY chunk_no",
                        (run_id,))


def test_after_a_run_the_watermark_advances_and_the_next_plan_uses_the_adapted_chunk_size(
        adaptive_ctx, source_dsn, target_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders_table(schemas), 1000)
    c.close()
    ctx = adaptive_ctx(chunk_rows=100, chunk_target_seconds=60, chunk_rows_min=50, chunk_rows_max=1000,
                       chunk_rows_step=25)
    control = schemas["control"]

    first = _load(ctx, D1, D2)  # 334 rows: three full chunks of 100, fast
    assert [r[0] for r in _planned_sizes(target_dsn, control, first)] == [100, 100, 100, 34]
    out = adaptive.after_run(ctx, first)
    assert (out["chunk_rows_before"], out["chunk_rows"], out["full_chunks"]) == (100, 125, 3)
    assert out["watermark"] == D2.isoformat()
    assert adaptive.poll_start(ctx).watermark == D2

    second = _load(ctx, D2, D3)
    assert [r[0] for r in _planned_sizes(target_dsn, control, second)] == [125, 125, 83]
    # Too slow for a tiny target: halve (within bounds) — same run, other target.
    slow = adaptive_ctx(chunk_rows=100, chunk_target_seconds=1e-6, chunk_rows_min=50, chunk_rows_max=1000)
    assert adaptive.after_run(slow, second)["chunk_rows"] == 62
    # An earlier run never moves the watermark back.
    assert adaptive.after_run(ctx, first)["watermark"] == D3.isoformat()


def test_the_watermark_follows_a_done_run_even_when_its_update_was_lost(adaptive_ctx, source_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders_table(schemas), 300)
    c.close()
    ctx = adaptive_ctx()
    _load(ctx, D1, D2)  # finalized, but no after_run (a crash right after finalize)
    assert adaptive.poll_start(ctx).watermark == D2


def test_a_run_that_is_not_done_keeps_the_watermark(adaptive_ctx, source_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders_table(schemas), 300)
    c.close()
    ctx = adaptive_ctx()
    ex = extract(ctx, D1, D2)
    with pytest.raises(PermanentBatchError, match="not DONE: the watermark stays"):
        adaptive.after_run(ctx, ex.run_id)
    assert control.read_state(ctx).watermark is None


def orders_table(schemas) -> str:
    return f'"{schemas["data"]}".orders'


def test_the_sensor_applies_the_law_keeps_the_period_and_exports_the_backlog(adaptive_ctx, sink):
    """After each poll (in the worker): period by the seed's rule, stored; backlog and period as gauges."""
    from airflow.sdk.exceptions import TaskDeferred

    from gaussdb_batch.operators.adaptive import BacklogSensor

    ctx = adaptive_ctx()
    sensor = BacklogSensor(task_id="wait_for_backlog", spec=ctx.spec)
    mark = "2023-12-31T00:00:00+00:00"
    idle = {"backlog": 0, "cutoff": "2024-06-01T00:00:00+00:00", "watermark": mark, "period": 3.0,
            "waited": 3.0, "polls": [[3.0, 3.0, 0]]}
    with pytest.raises(TaskDeferred) as deferred:  # nothing waits: poll again, one step later
        sensor.resume({}, idle)
    again = deferred.value.trigger
    assert (again.period, again.watermark, again.polls) == (5.0, mark, [[3.0, 3.0, 0]])
    assert (control.read_state(ctx).period_seconds, control.read_state(ctx).backlog) == (5.0, 0)

    busy = {**idle, "backlog": 25, "period": 5.0, "polls": [[3.0, 3.0, 0], [5.0, 5.0, 25]]}
    out = sensor.resume({}, busy)  # more than the threshold (10): load now, next wait one step shorter
    assert (out["start"], out["end"], out["backlog"], out["period"]) == (mark, busy["cutoff"], 25, 3.0)
    assert control.read_state(ctx).period_seconds == 3.0
    lines = sink.lines(4)
    assert lines == [
        "airflow.gaussdb_batch.orders_sync.backlog_rows:0.0|g",
        "airflow.gaussdb_batch.orders_sync.schedule_interval_seconds:5.0|g",
        "airflow.gaussdb_batch.orders_sync.backlog_rows:25.0|g",
        "airflow.gaussdb_batch.orders_sync.schedule_interval_seconds:3.0|g",
    ]
