"""The scheduler runs the batch: a run triggered through the REST API, then backfills.

A backfill is `airflow backfill create` over three quarters; run again with
``--reprocess-behavior completed`` it re-runs the three (completed) intervals. The target
must be identical after both, and identical to the source: reprocessing converges.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.e2e.conftest import DAG_ID, Stack, fingerprint, query, wait_until

pytestmark = pytest.mark.e2e

BACKFILL_FROM, BACKFILL_TO = dt.date(1994, 1, 1), dt.date(1994, 7, 1)  # logical dates of three quarters (inclusive)
BACKFILL_END = dt.date(1994, 10, 1)  # end of the third interval


def _runs_of_control(stack: Stack, start: dt.date, end: dt.date) -> list[tuple]:
    return query(stack.target_dsn,
                 "SELECT run_id, status, rows_loaded FROM gaussdb_batch.runs"
                 " WHERE batch = %s AND interval_start >= %s AND interval_end <= %s ORDER BY run_id",
                 (DAG_ID, start, end))


def test_rest_api_trigger_runs_the_batch(local_stack: Stack):
    """POST /api/v2/dags/{dag}/dagRuns with an interval in conf; the scheduler runs it to success."""
    st = local_stack
    start, end = dt.date(1993, 1, 1), dt.date(1993, 4, 1)
    run_id = st.run_batch(DAG_ID, start, end, "e2e_rest_trigger")  # POST /api/v2/dags/{dag}/dagRuns
    all_tis = {(t["task_id"], t["map_index"]): t["state"] for t in st.api.task_instances(DAG_ID, run_id)}
    assert not {k: v for k, v in all_tis.items() if v not in ("success", "skipped")}, all_tis
    tis = {k: v for k, v in all_tis.items() if k[0] in ("extract", "load", "check", "finalize", "compensate")}
    assert tis == {("extract", -1): "success", ("load", 0): "success", ("load", 1): "success",
                   ("load", 2): "success", ("load", 3): "success", ("check", -1): "success",
                   ("finalize", -1): "success", ("compensate", -1): "skipped"}, tis
    src, tgt = fingerprint(st.source_dsn, start, end), fingerprint(st.target_dsn, start, end)
    assert src[0] > 100, f"the source quarter should hold a few hundred orders, got {src}"
    assert tgt == src
    assert tgt[0] == tgt[1], "duplicate keys in the target"
    control = _runs_of_control(st, start, end)
    assert [(r[1], r[2]) for r in control] == [("DONE", src[0])], control


def test_backfill_and_reprocess_converge(local_stack: Stack):
    """`airflow backfill create` over three intervals, then again reprocessing completed runs."""
    st = local_stack
    before = fingerprint(st.target_dsn, BACKFILL_FROM, BACKFILL_END)
    assert before[0] == 0, "the backfilled quarters must start empty in the target"
    source = fingerprint(st.source_dsn, BACKFILL_FROM, BACKFILL_END)

    first = _backfill(st, reprocess=None)
    assert len(first) == 3, first
    after_first = fingerprint(st.target_dsn, BACKFILL_FROM, BACKFILL_END)
    assert after_first == source
    control_first = _runs_of_control(st, BACKFILL_FROM, BACKFILL_END)
    assert [r[1] for r in control_first] == ["DONE"] * 3, control_first

    second = _backfill(st, reprocess="completed")
    assert {r["dag_run_id"] for r in second} == {r["dag_run_id"] for r in first}, "reprocess reuses the runs"
    after_second = fingerprint(st.target_dsn, BACKFILL_FROM, BACKFILL_END)
    assert after_second == after_first == source
    assert after_second[0] == after_second[1], "duplicate keys in the target"
    control_second = _runs_of_control(st, BACKFILL_FROM, BACKFILL_END)
    # Reprocessing really ran every interval again: three new DONE attempts in the control schema.
    assert [r[1] for r in control_second] == ["DONE"] * 6, control_second
    assert sum(r[2] for r in control_second[3:]) == source[0]


def _backfill(st: Stack, reprocess: str | None) -> list[dict]:
    """Create a backfill with the CLI and wait until the scheduler finished all its runs."""
    args = ["backfill", "create", "--dag-id", DAG_ID, "--from-date", BACKFILL_FROM.isoformat(),
            "--to-date", BACKFILL_TO.isoformat(), "--max-active-runs", "1"]
    if reprocess:
        args += ["--reprocess-behavior", reprocess]
    st.airflow(*args)
    backfills = st.api.get("/backfills", dag_id=DAG_ID, order_by="-id")["backfills"]
    latest = max(backfills, key=lambda b: b["id"])
    wait_until(f"backfill {latest['id']} to complete",
               lambda: st.api.get(f"/backfills/{latest['id']}")["completed_at"],
               timeout=600, interval=3, diagnose=st.diagnose)
    runs = [r for r in st.api.runs(DAG_ID) if r.get("run_type") == "backfill"
            and BACKFILL_FROM.isoformat() <= r["logical_date"][:10] <= BACKFILL_TO.isoformat()]
    for run in runs:
        st.assert_success(DAG_ID, run)
    return runs
