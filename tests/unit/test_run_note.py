"""The DAG run note listener: its text, and that Airflow's plugin manager registers it from the entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from types import SimpleNamespace

import pytest

from gaussdb_batch import run_note
from gaussdb_batch.run_note import MARKER, GaussDBBatchPlugin, note_text


def test_the_note_names_the_interval_and_the_batch_run():
    batch_run = {"run_id": 42, "interval": "2026-07-01T00:00:00+00:00 .. 2026-08-01T00:00:00+00:00", "attempt": 2,
                 "control_schema": "gaussdb_batch"}
    assert note_text(batch_run, "success") == (f"{MARKER}Loaded 2026-07-01 .. 2026-08-01: batch run 42 (attempt 2) "
                                               "in gaussdb_batch.runs, success")
    hourly = {**batch_run, "interval": "2026-07-01T05:00:00+00:00 .. 2026-07-01T06:00:00+00:00"}
    assert note_text(hourly, "failed").startswith(f"{MARKER}Loaded 2026-07-01T05:00:00+00:00 .. "
                                                  "2026-07-01T06:00:00+00:00:")


def test_a_repair_runs_note_names_its_reconciliation():
    repair = {"run_id": 43, "repair_of": 7, "attempt": 1, "control_schema": "gb"}
    assert note_text(repair, "success") == (f"{MARKER}Repaired the differing records of reconciliation 7: batch run 43 "
                                            "(attempt 1) in gb.runs, success")


def test_the_provider_registers_the_listener_as_an_airflow_plugin():
    from airflow.listeners.listener import ListenerManager

    plugins = {ep.name: ep.value for ep in entry_points(group="airflow.plugins")}
    assert plugins.get("gaussdb_batch") == "gaussdb_batch.run_note:GaussDBBatchPlugin"
    manager = ListenerManager()
    for listener in GaussDBBatchPlugin.listeners:
        manager.add_listener(listener)
    assert manager.has_listeners
    assert manager.hook.on_dag_run_success.get_hookimpls()


RUN5 = {"run_id": 5, "interval": "2026-07-01T00:00:00+00:00 .. 2026-08-01T00:00:00+00:00", "attempt": 1,
        "control_schema": "gaussdb_batch"}
RUN6 = {**RUN5, "run_id": 6, "attempt": 2}


@pytest.fixture
def xcoms(monkeypatch) -> dict:
    """The XComs the listener reads, by (dag_id, run_id, task_id or None, key)."""
    store: dict = {}

    def fake(dag_run, key, task_id=None, dag_id=None, run_id=None):
        return store.get((dag_id or dag_run.dag_id, run_id or dag_run.run_id, task_id, key))

    monkeypatch.setattr(run_note, "_xcom", fake)
    return store


def _dag_run(note=None, dag_id="orders", run_id="manual__1", state="success"):
    return SimpleNamespace(dag_id=dag_id, run_id=run_id, note=note, state=state)


def test_the_note_is_rewritten_after_a_rerun_but_a_persons_note_never(xcoms):
    run = _dag_run()
    xcoms[("orders", "manual__1", None, "batch_run")] = RUN5
    run_note.on_dag_run_success(run, "")
    assert run.note.startswith(MARKER) and "batch run 5 (attempt 1)" in run.note and run.note.endswith("success")
    # Cleared and rerun: extract started batch run 6, which failed.
    xcoms[("orders", "manual__1", None, "batch_run")] = RUN6
    run_note.on_dag_run_failed(run, "")
    assert "batch run 6 (attempt 2)" in run.note and run.note.endswith("failed") and "run 5" not in run.note
    # A note of the older form, without the marker, is the project's too.
    run.note = "Loaded 2026-07-01 .. 2026-08-01: batch run 5 (attempt 1) in gaussdb_batch.runs, success"
    run_note.on_dag_run_failed(run, "")
    assert "batch run 6" in run.note
    # A rerun whose extract failed before recording a batch run no longer names the old one.
    del xcoms[("orders", "manual__1", None, "batch_run")]
    run_note.on_dag_run_failed(run, "")
    assert run.note == f"{MARKER}no batch run recorded (extract did not finish), failed"
    person = _dag_run(note="checked by Li: source late, rerun tomorrow")
    xcoms[("orders", "manual__1", None, "batch_run")] = RUN6
    run_note.on_dag_run_success(person, "")
    assert person.note == "checked by Li: source late, rerun tomorrow"


def test_the_note_counts_quarantined_rows_and_says_where_they_are(xcoms):
    run = _dag_run()
    xcoms[("orders", "manual__1", None, "batch_run")] = RUN5
    xcoms[("orders", "manual__1", "finalize", "return_value")] = {"run_id": 5, "rows_loaded": 97, "rows_rejected": 3}
    run_note.on_dag_run_success(run, "")
    assert run.note.endswith("success; 3 rows quarantined in gaussdb_batch.rejects (Browse > Batches, run 5)")


def test_a_rolled_back_run_says_it_was_rolled_back_and_by_which_dag_run(xcoms, monkeypatch):
    loaded = _dag_run(note=note_text(RUN5, "success"))
    monkeypatch.setattr(run_note, "_dag_run_of_batch_run",
                        lambda dag_run, dag_id, batch_run_id: loaded if (dag_id, batch_run_id) == ("orders", 5) else None)
    rollback = _dag_run(dag_id="orders__rollback", run_id="manual__undo")
    xcoms[("orders__rollback", "manual__undo", "rollback", "return_value")] = {"run_id": 5, "rows_deleted": 10,
                                                                              "rows_restored": 2}
    run_note.on_dag_run_success(rollback, "")
    assert loaded.note.startswith(note_text(RUN5, "success"))
    assert loaded.note.endswith("; rolled back by orders__rollback run manual__undo (10 rows deleted, 2 restored)")
    assert rollback.note is None
    # The loading DAG's own compensation says so too.
    run = _dag_run()
    xcoms[("orders", "manual__1", None, "batch_run")] = RUN5
    xcoms[("orders", "manual__1", "compensate", "return_value")] = {"run_id": 5, "rows_deleted": 4, "rows_restored": 0}
    run_note.on_dag_run_failed(run, "")
    assert run.note.endswith("failed; rolled back (compensated: 4 rows deleted, 0 restored)")


def test_finalize_logs_the_quarantined_rows_and_where_to_see_them(monkeypatch, capsys):
    from gaussdb_batch.engine import compensate
    from gaussdb_batch.engine.spec_parser import parse_spec
    from gaussdb_batch.operators.batch import FinalizeOperator

    spec = parse_spec({"name": "orders", "schedule": None, "start_date": "2026-01-01",
                       "source": {"conn_id": "s", "table": "a.b", "interval_column": "d"},
                       "target": {"conn_id": "t", "table": "a.b"}, "keys": ["k"]}, origin="test")
    monkeypatch.setattr(compensate, "finalize_run", lambda ctx, run_id: {"run_id": run_id, "rows_rejected": 3})
    op = FinalizeOperator(task_id="finalize", spec=spec, run_id=5)
    monkeypatch.setattr(FinalizeOperator, "batch", property(lambda self: None))
    assert op.execute({})["rows_rejected"] == 3
    logged = capsys.readouterr().out
    assert "[warning  ] batch=orders run=5: 3 rows quarantined in gaussdb_batch.rejects" in logged
    assert "Browse > Batches" in logged
