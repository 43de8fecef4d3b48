"""Assets in real Airflow: a good batch run emits its target table's asset event (with the run's
interval, rows written, rejects and run id as extra) and the scheduler then runs the downstream
DAG scheduled on it; a compensated run emits nothing and triggers nothing.

The batch under test (``e2e_assets``, manual) and the demo downstream DAG (dags/gaussdb_downstream.py)
are added to the stack here;
its target ``e2e.orders_asset`` refuses orders from 1993 on (a CHECK constraint), so a run over
1992 Q4 and 1993 Q1 writes its 1992 rows, rejects the rest over ``max_rejects`` and is compensated. The shared
stack's scheduler does not create scheduled runs (``use_job_schedule`` off), which is also what
creates asset-triggered runs: this test restarts it with job scheduling on while the other
batch DAGs are paused, and restores it afterwards.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator

import psycopg2
import pytest

from gaussdb_batch.engine.state import RunStatus
from tests.conftest import ROOT
from tests.e2e.conftest import AIRFLOW, APPEND_DAG_ID, DAG_ID, Stack, query, wait_until
from tests.e2e.manual_batch import add_batch, manual_spec

pytestmark = pytest.mark.e2e

ASSET_DAG_ID = "e2e_assets"
DOWNSTREAM = "gaussdb_batch_downstream"
ASSET_SPEC = manual_spec(ASSET_DAG_ID, description="TPC-H orders into a table that refuses 1993 (asset events)",
                         target="e2e.orders_asset", tag="assets", chunk_rows=200, max_rejects=0)
TARGET_SQL = """
CREATE SCHEMA IF NOT EXISTS e2e;
DROP TABLE IF EXISTS e2e.orders_asset;
CREATE TABLE e2e.orders_asset (LIKE tpch.orders INCLUDING DEFAULTS);
ALTER TABLE e2e.orders_asset ADD PRIMARY KEY (o_orderkey);
ALTER TABLE e2e.orders_asset ADD CONSTRAINT before_1993 CHECK (o_orderdate < DATE '1993-01-01');
"""


def _asset(st: Stack) -> dict | None:
    assets = st.api.get("/assets", uri_pattern="orders_asset", limit=10)["assets"]
    return next((a for a in assets if a["uri"].endswith("/gbe2e_target/e2e/orders_asset")), None)


def _consumed_by_downstream(st: Stack) -> dict | None:
    asset = _asset(st)
    if asset and any(d["dag_id"] == DOWNSTREAM for d in asset.get("scheduled_dags", [])):
        return asset
    return None


def _set_paused(st: Stack, dag_ids: list[str], paused: bool) -> None:
    for dag_id in dag_ids:
        st.api.patch(f"/dags/{dag_id}", {"is_paused": paused})


@pytest.fixture
def asset_stack(local_stack: Stack) -> Iterator[Stack]:
    st = local_stack
    with psycopg2.connect(st.target_dsn) as conn, conn.cursor() as cur:
        cur.execute(TARGET_SQL)
    conn.close()
    add_batch(st, ASSET_DAG_ID, ASSET_SPEC)
    shutil.copyfile(ROOT / "dags" / "gaussdb_downstream.py", st.dags / "gaussdb_downstream.py")
    # The dag-processor re-parses the downstream DAG file, which now finds the new batch's asset.
    wait_until("the downstream DAG to be scheduled on the new batch's asset", lambda: _consumed_by_downstream(st),
               timeout=240, interval=3, diagnose=st.diagnose)
    others = [DAG_ID, APPEND_DAG_ID]
    _set_paused(st, others, True)
    _set_paused(st, [ASSET_DAG_ID, DOWNSTREAM], False)
    st.services.stop("scheduler")
    st.services.start("scheduler", [AIRFLOW, "scheduler", "--skip-serve-logs"],
                      st.env(AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="True"))
    try:
        yield st
    finally:
        st.services.stop("scheduler")
        st._start_scheduler()
        _set_paused(st, [ASSET_DAG_ID, DOWNSTREAM], True)
        _set_paused(st, others, False)


def _downstream_runs(st: Stack) -> list[dict]:
    return st.api.get(f"/dags/{DOWNSTREAM}/dagRuns", limit=100, order_by="id")["dag_runs"]


def _control_run(st: Stack, start: dt.date) -> tuple:
    rows = query(st.target_dsn, "SELECT run_id, attempt, status, rows_loaded, rows_rejected, chunks_total"
                                "  FROM gaussdb_batch.runs WHERE batch = %s AND interval_start = %s"
                                " ORDER BY run_id DESC LIMIT 1", (ASSET_DAG_ID, start))
    assert rows, f"no control-schema run of {ASSET_DAG_ID} at {start}"
    return rows[0]


def test_a_good_run_triggers_the_downstream_dag_and_a_compensated_one_does_not(asset_stack: Stack):
    st = asset_stack
    asset = _asset(st)
    assert asset["uri"].startswith("postgres://127.0.0.1:") and asset["uri"].endswith(
        "/gbe2e_target/e2e/orders_asset"), asset
    before = len(_downstream_runs(st))

    # A good run: the finalize task emits the event; the scheduler runs the downstream DAG.
    good = st.run_batch(ASSET_DAG_ID, dt.date(1992, 1, 1), dt.date(1992, 4, 1), "e2e_assets_good")
    run_id, attempt, status, loaded, rejected, chunks = _control_run(st, dt.date(1992, 1, 1))
    assert status == RunStatus.DONE and loaded > 0

    def downstream_done() -> dict | None:
        runs = _downstream_runs(st)[before:]
        return runs[0] if runs and runs[0]["state"] in ("success", "failed") else None

    down = wait_until("the downstream DAG run after the good batch", downstream_done, timeout=180, interval=2,
                      diagnose=st.diagnose)
    assert down["state"] == "success" and down["run_type"] == "asset_triggered", down
    rid = down["dag_run_id"]
    events = st.api.get(f"/dags/{DOWNSTREAM}/dagRuns/{rid}/upstreamAssetEvents")["asset_events"]
    assert len(events) == 1, events
    event = events[0]
    assert event["source_dag_id"] == ASSET_DAG_ID and event["source_run_id"] == good
    assert event["source_task_id"] == "finalize"
    assert event["extra"] == {
        "batch": ASSET_DAG_ID, "run_id": run_id, "attempt": attempt,
        "interval_start": "1992-01-01T00:00:00+00:00", "interval_end": "1992-04-01T00:00:00+00:00",
        "rows_written": loaded, "rows_rejected": rejected, "chunks": chunks,
    }
    # The downstream task saw the same facts.
    xcom = st.api.get(f"/dags/{DOWNSTREAM}/dagRuns/{rid}/taskInstances/report_loaded_intervals/xcomEntries/"
                      "return_value")["value"]
    assert [(x["run_id"], x["rows_written"]) for x in xcom] == [(run_id, loaded)], xcom

    # A compensated run (1993 rows break the target's CHECK: rejects over max_rejects) emits nothing.
    events_before = st.api.get("/assets/events", asset_id=asset["id"], limit=100)["total_entries"]
    # Its 1992 rows are written, its 1993 rows rejected: compensation deletes what it wrote.
    bad = st.api.trigger(ASSET_DAG_ID, interval=(dt.date(1992, 10, 1), dt.date(1993, 4, 1)),
                         run_id="e2e_assets_compensated")
    run = st.wait_run(ASSET_DAG_ID, bad, timeout=300)
    assert run["state"] == "failed", run
    states = {t["task_id"]: t["state"] for t in st.api.task_instances(ASSET_DAG_ID, bad)}
    assert states["compensate"] == "success" and states["finalize"] == "upstream_failed", states
    assert _control_run(st, dt.date(1992, 10, 1))[2] == RunStatus.COMPENSATED
    assert query(st.target_dsn, "SELECT count(*) FROM e2e.orders_asset WHERE o_orderdate >= '1992-10-01'") == [(0,)]
    time.sleep(15)  # several scheduler loops: an event would have queued a downstream run by now
    assert st.api.get("/assets/events", asset_id=asset["id"], limit=100)["total_entries"] == events_before
    assert len(_downstream_runs(st)) == before + 1
