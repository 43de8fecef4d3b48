"""The scheduled reconciliation in real Airflow: a batch loads a quarter, then the source gets late
rows and loses one, and someone edits the target; the batch's ``__reconcile`` DAG (report mode)
finds each of them exactly, succeeds, and the Batches page shows it (keys only to editors).

The batch (``e2e_recon``, manual) reads its own copy of one quarter of TPC-H orders
(``e2e.orders_recon_src`` in the source database) into ``e2e.orders_recon``; its reconcile
section compares the whole table.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
from collections.abc import Iterator

import psycopg2
import pytest

from tests.e2e.conftest import Stack, query
from tests.e2e.manual_batch import add_batch, manual_spec
from tests.e2e.test_batches_page import _get, _token_for

pytestmark = pytest.mark.e2e

BATCH = "e2e_recon"
RECON_DAG = f"{BATCH}__reconcile"
START, END = dt.date(1995, 1, 1), dt.date(1995, 4, 1)
LATE_ROWS = 3
SPEC = manual_spec(BATCH, description="one quarter of TPC-H orders, reconciled with its source",
                   target="e2e.orders_recon", tag="reconcile", chunk_rows=200, max_rejects=0).replace(
    "table: tpch.orders,", "table: e2e.orders_recon_src,") + """\
reconcile:
  schedule: "0 3 * * *"
  scope: table
  mode: report
  leaf_rows: 64
"""


def _run(dsn: str, sql: str, params: dict | None = None) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
    conn.close()


def _quarter_tables(st: Stack, name: str) -> None:
    """The batch's source ``e2e.<name>_src``: the quarter of TPC-H orders; its target ``e2e.<name>``, empty."""
    _run(st.source_dsn, f"CREATE SCHEMA IF NOT EXISTS e2e; DROP TABLE IF EXISTS e2e.{name}_src;"
                        f" CREATE TABLE e2e.{name}_src AS SELECT * FROM tpch.orders"
                        " WHERE o_orderdate >= %(start)s AND o_orderdate < %(end)s;"
                        f" ALTER TABLE e2e.{name}_src ADD PRIMARY KEY (o_orderkey)", {"start": START, "end": END})
    _run(st.target_dsn, f"CREATE SCHEMA IF NOT EXISTS e2e; DROP TABLE IF EXISTS e2e.{name};"
                        f" CREATE TABLE e2e.{name} (LIKE tpch.orders INCLUDING DEFAULTS);"
                        f" ALTER TABLE e2e.{name} ADD PRIMARY KEY (o_orderkey)")


def _reconcile_now(st: Stack, batch: str, run_id: str) -> tuple:
    """Trigger the batch's reconcile DAG, wait for its success; its latest reconciliation's row:
    (recon_id, missing, extra, changed, mode, status, repair_run_id)."""
    dag_id = f"{batch}__reconcile"
    st.api.trigger(dag_id, logical_date=dt.datetime.now(dt.timezone.utc).isoformat(), run_id=run_id)
    st.assert_success(dag_id, st.wait_run(dag_id, run_id, timeout=400))
    (row,) = query(st.target_dsn, "SELECT recon_id, missing, extra, changed, mode, status, repair_run_id"
                                  " FROM gaussdb_batch.reconciliations WHERE batch = %s ORDER BY recon_id DESC LIMIT 1",
                   (batch,))
    return tuple(row)


@pytest.fixture
def recon_stack(local_stack: Stack) -> Iterator[Stack]:
    st = local_stack
    _quarter_tables(st, "orders_recon")
    add_batch(st, BATCH, SPEC)
    for dag_id in (BATCH, RECON_DAG):
        st.api.patch(f"/dags/{dag_id}", {"is_paused": False})
    try:
        yield st
    finally:
        for dag_id in (BATCH, RECON_DAG):
            st.api.patch(f"/dags/{dag_id}", {"is_paused": True})


def test_report_finds_late_rows_source_deletes_and_target_edits(recon_stack: Stack):
    st = recon_stack
    st.run_batch(BATCH, START, END, "e2e_recon_load")
    keys = [k for (k,) in query(st.source_dsn, "SELECT o_orderkey FROM e2e.orders_recon_src ORDER BY o_orderkey")]
    assert len(keys) > 100
    # Late rows: orders of the quarter that reach the source after its run (copied from a later quarter).
    late = [k for (k,) in query(st.source_dsn, "SELECT o_orderkey FROM tpch.orders WHERE o_orderdate >= %s"
                                               " ORDER BY o_orderkey LIMIT %s", (END, LATE_ROWS))]
    _run(st.source_dsn, "INSERT INTO e2e.orders_recon_src SELECT * FROM tpch.orders WHERE o_orderkey = ANY(%(late)s);"
                        " UPDATE e2e.orders_recon_src SET o_orderdate = %(day)s WHERE o_orderkey = ANY(%(late)s);"
                        " DELETE FROM e2e.orders_recon_src WHERE o_orderkey = %(gone)s",
         {"late": late, "day": START + dt.timedelta(days=40), "gone": keys[len(keys) // 2]})
    _run(st.target_dsn, "UPDATE e2e.orders_recon SET o_comment = o_comment || ' (edited)' WHERE o_orderkey = %(k)s",
         {"k": keys[-1]})

    run_id = "e2e_recon_report"
    recon_id, missing, extra, changed, mode, status, _ = _reconcile_now(st, BATCH, run_id)
    assert (missing, extra, changed, mode) == (LATE_ROWS, 1, 1, "report"), status
    diffs = query(st.target_dsn, "SELECT kind, key_text FROM gaussdb_batch.reconciliation_diffs WHERE recon_id = %s"
                                 " ORDER BY kind, key_text", (recon_id,))
    by_kind: dict[str, list[str]] = {}
    for kind, key_text in diffs:
        by_kind.setdefault(kind, []).append(key_text)
    assert {k: len(v) for k, v in by_kind.items()} == {"missing_in_target": LATE_ROWS, "extra_in_target": 1,
                                                        "changed": 1}, diffs
    assert str(keys[-1]) in by_kind["changed"][0] and str(keys[len(keys) // 2]) in by_kind["extra_in_target"][0]
    xcom = st.api.get(f"/dags/{RECON_DAG}/dagRuns/{run_id}/taskInstances/reconcile/xcomEntries/return_value")["value"]
    if isinstance(xcom, str):  # returned as its text unless deserialized
        xcom = ast.literal_eval(xcom) if xcom.startswith("{'") else json.loads(xcom)
    assert (xcom["recon_id"], xcom["missing_in_target"], xcom["extra_in_target"], xcom["changed"],
            xcom["differences"]) == (recon_id, LATE_ROWS, 1, 1, LATE_ROWS + 2), xcom
    # report mode changed nothing in the target
    assert query(st.target_dsn, "SELECT count(*) FROM e2e.orders_recon")[0][0] == len(keys)

    # The Batches page: the latest reconciliation, its records' keys only for an editor.
    admin, viewer = _token_for(st, "admin1", "admin"), _token_for(st, "viewer1", "viewer")
    shown = _get(st, f"batches/{BATCH}/reconcile?limit=2", admin).json()
    assert shown["latest"]["recon_id"] == recon_id and shown["dag_id"] == RECON_DAG
    assert shown["latest"]["differences"] == {"missing_in_target": LATE_ROWS, "extra_in_target": 1, "changed": 1}
    assert shown["records"]["values_shown"] and shown["records"]["more"] and len(shown["records"]["items"]) == 2
    assert all(x["key"] and (x["source_digest"] or x["target_digest"]) for x in shown["records"]["items"])
    hidden = _get(st, f"batches/{BATCH}/reconcile?limit=10", viewer).json()
    assert not hidden["records"]["values_shown"] and len(hidden["records"]["items"]) == LATE_ROWS + 2
    assert all(set(x) == {"kind", "checked_at"} for x in hidden["records"]["items"])
    assert _get(st, f"batches/{BATCH}/reconcile?limit=100000", admin).status_code == 422


REPAIR_BATCH = "e2e_repair"
REPAIR_DAG = f"{REPAIR_BATCH}__reconcile"
REPAIR_SPEC = manual_spec(REPAIR_BATCH, description="one quarter of TPC-H orders, repaired from its source",
                          target="e2e.orders_repair", tag="reconcile", chunk_rows=200, max_rejects=0).replace(
    "table: tpch.orders,", "table: e2e.orders_repair_src,").replace("mode: upsert", "mode: delete_insert") + """\
reconcile:
  schedule: "0 3 * * *"
  scope: table
  mode: repair
  leaf_rows: 64
"""


def _table(dsn: str, table: str) -> list[tuple]:
    return query(dsn, f"SELECT * FROM {table} ORDER BY o_orderkey")


@pytest.fixture
def repair_stack(local_stack: Stack) -> Iterator[Stack]:
    st = local_stack
    _quarter_tables(st, "orders_repair")
    add_batch(st, REPAIR_BATCH, REPAIR_SPEC)
    st.api.patch(f"/dags/{REPAIR_BATCH}", {"is_paused": False})  # the others once the differences are planted
    try:
        yield st
    finally:
        for dag_id in (REPAIR_BATCH, REPAIR_DAG, f"{REPAIR_BATCH}__rollback"):
            st.api.patch(f"/dags/{dag_id}", {"is_paused": True})


def test_repair_fixes_each_difference_and_the_rollback_dag_undoes_it(repair_stack: Stack):
    """Report finds each planted difference, the repair run re-syncs each (delete_insert: the row the
    source lost is deleted too), a second reconciliation finds nothing and skips its repair, and the
    rollback DAG, given the repair's run_id, puts the target back as it was before the repair."""
    st = repair_stack
    st.run_batch(REPAIR_BATCH, START, END, "e2e_repair_load")
    keys = [k for (k,) in query(st.source_dsn, "SELECT o_orderkey FROM e2e.orders_repair_src ORDER BY o_orderkey")]
    late = [k for (k,) in query(st.source_dsn, "SELECT o_orderkey FROM tpch.orders WHERE o_orderdate >= %s"
                                               " ORDER BY o_orderkey LIMIT %s", (END, LATE_ROWS))]
    gone, edited = keys[len(keys) // 3], keys[-2]
    _run(st.source_dsn, "INSERT INTO e2e.orders_repair_src SELECT * FROM tpch.orders WHERE o_orderkey = ANY(%(late)s);"
                        " UPDATE e2e.orders_repair_src SET o_orderdate = %(day)s WHERE o_orderkey = ANY(%(late)s);"
                        " DELETE FROM e2e.orders_repair_src WHERE o_orderkey = %(gone)s",
         {"late": late, "day": START + dt.timedelta(days=40), "gone": gone})
    _run(st.target_dsn, "UPDATE e2e.orders_repair SET o_totalprice = -o_totalprice WHERE o_orderkey = %(k)s",
         {"k": edited})
    planted = _table(st.target_dsn, "e2e.orders_repair")
    assert planted != _table(st.source_dsn, "e2e.orders_repair_src")
    for dag_id in (REPAIR_DAG, f"{REPAIR_BATCH}__rollback"):
        st.api.patch(f"/dags/{dag_id}", {"is_paused": False})

    recon_id, missing, extra, changed, mode, _, repair_run = _reconcile_now(st, REPAIR_BATCH, "e2e_repair_1")
    assert (missing, extra, changed, mode) == (LATE_ROWS, 1, 1, "repair") and repair_run is not None
    [(status, repair_of, loaded)] = query(st.target_dsn, "SELECT status, repair_of, rows_loaded FROM gaussdb_batch.runs"
                                                         " WHERE run_id = %s", (repair_run,))
    assert (status, repair_of, loaded) == ("DONE", recon_id, LATE_ROWS + 1)
    assert _table(st.target_dsn, "e2e.orders_repair") == _table(st.source_dsn, "e2e.orders_repair_src")

    # Nothing differs now: the reconciliation says so and its repair is skipped, the DAG run succeeds.
    latest = _reconcile_now(st, REPAIR_BATCH, "e2e_repair_2")
    states = {t["task_id"]: t["state"] for t in st.api.task_instances(REPAIR_DAG, "e2e_repair_2")
              if t["map_index"] in (-1, 0)}
    assert states["reconcile"] == "success" and states["extract"] == "skipped", states
    assert (latest[5], latest[6]) == ("MATCH", None)

    # The rollback DAG undoes the repair run like any run: the planted differences are back.
    undo = st.api.trigger(f"{REPAIR_BATCH}__rollback", conf={"run_id": repair_run}, run_id="e2e_repair_undo")
    st.assert_success(f"{REPAIR_BATCH}__rollback", st.wait_run(f"{REPAIR_BATCH}__rollback", undo, timeout=300))
    assert _table(st.target_dsn, "e2e.orders_repair") == planted
    assert query(st.target_dsn, "SELECT status FROM gaussdb_batch.runs WHERE run_id = %s",
                 (repair_run,)) == [("COMPENSATED",)]
