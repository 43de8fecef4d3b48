"""A DAG run note naming the interval and the batch run, written by the scheduler when the run ends.

Tasks cannot write DAG run notes (the Task SDK has no call for it and tasks never touch the
metadata database), but Airflow's listeners run in the scheduler: when a DAG run of a batch
finishes, this reads the ``batch_run`` XCom extract left (and what finalize and compensate
returned) and sets a note such as ``[gaussdb-batch] Loaded 1992-07-01 .. 1992-10-01: batch run 42
(attempt 1) in gaussdb_batch.runs, success; 3 rows quarantined in gaussdb_batch.rejects (Browse >
Batches)``. The note is rewritten each time the DAG run ends again (after a clear), since the
project's notes carry the ``[gaussdb-batch]`` marker; a note a person wrote is never touched.
When a batch's rollback DAG run succeeds, the note of the DAG run it undid says so and by which
DAG run. Registered by the ``airflow.plugins`` entry point of the provider (``GaussDBBatchPlugin``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin
from airflow.utils.state import DagRunState

log = logging.getLogger(__name__)
#: The XCom key extract pushes (operators/batch.py).
BATCH_RUN_XCOM = "batch_run"


#: The XCom key extract pushes (operators/batch.py).
BATCH_RUN_XCOM = "batch_run"
#: How the project's own notes begin: a note with it (or one of the older marker-less form) is
#: the project's to rewrite; any other note is a person's.
MARKER = "[gaussdb-batch] "
_OLD_NOTE = re.compile(r"^Loaded .*: batch run \S+ \(attempt \S+\) in \S+\.runs, (success|failed)$")
#: Suffix of a batch's rollback DAG (dag_factory.py).
ROLLBACK_SUFFIX = "__rollback"
RECONCILE_SUFFIX = "__reconcile"


def is_own_note(note: str | None) -> bool:
    return note is not None and (note.startswith(MARKER) or bool(_OLD_NOTE.match(note)))


def note_text(batch_run: dict[str, Any] | None, state: str, *, finalize: dict[str, Any] | None = None,
              compensated: dict[str, Any] | None = None) -> str:
    """The note of a DAG run: the batch run extract recorded, its end, the rejects and any rollback."""
    if batch_run is None:
        return f"{MARKER}no batch run recorded (extract did not finish), {state}"
    schema = batch_run.get("control_schema", "gaussdb_batch")
    interval = " .. ".join(part.strip()[:10] if part.strip()[10:] in ("T00:00:00+00:00", "") else part.strip()
                           for part in str(batch_run.get("interval", "?")).split(".."))
    what = (f"Repaired the differing records of reconciliation {batch_run['repair_of']}"
            if batch_run.get("repair_of") is not None else f"Loaded {interval}")
    text = (f"{MARKER}{what}: batch run {batch_run.get('run_id')} (attempt {batch_run.get('attempt')}) in "
            f"{schema}.runs, {state}")
    rejected = int((finalize or {}).get("rows_rejected") or 0)
    if rejected:
        text += (f"; {rejected} row{'s' if rejected != 1 else ''} quarantined in {schema}.rejects "
                 f"(Browse > Batches, run {batch_run.get('run_id')})")
    if compensated is not None:
        text += (f"; rolled back (compensated: {compensated.get('rows_deleted', 0)} rows deleted, "
                 f"{compensated.get('rows_restored', 0)} restored)")
    return text


def _xcom(dag_run: Any, key: str, task_id: str | None = None, dag_id: str | None = None,
          run_id: str | None = None) -> Any:
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from airflow.models.xcom import XComModel

    session = object_session(dag_run)
    if session is None:
        return None
    stmt = select(XComModel.value).where(XComModel.dag_id == (dag_id or dag_run.dag_id),
                                         XComModel.run_id == (run_id or dag_run.run_id), XComModel.key == key)
    if task_id is not None:
        stmt = stmt.where(XComModel.task_id == task_id)
    value = session.scalar(stmt.limit(1))
    if isinstance(value, str):  # stored through serialize_value; the Task Execution API stores JSON as is
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value


def _batch_run(dag_run: Any) -> dict[str, Any] | None:
    value = _xcom(dag_run, BATCH_RUN_XCOM)
    return value if isinstance(value, dict) else None


def _returned(dag_run: Any, task_id: str) -> dict[str, Any] | None:
    value = _xcom(dag_run, "return_value", task_id)
    return value if isinstance(value, dict) else None


def _annotate(dag_run: Any, state: str) -> None:
    try:
        if dag_run.dag_id.endswith(ROLLBACK_SUFFIX):
            if state == DagRunState.SUCCESS:
                _note_rollback(dag_run)
            return
        if dag_run.note and not is_own_note(dag_run.note):
            return  # never overwrite what a person wrote
        batch_run = _batch_run(dag_run)
        if batch_run is None and not dag_run.note:
            return  # not a batch's DAG run (or nothing to correct)
        dag_run.note = note_text(batch_run, state, finalize=_returned(dag_run, "finalize"),
                                 compensated=_returned(dag_run, "compensate"))
    except Exception:  # a note is a courtesy: it must never disturb the scheduler
        log.exception("could not write the batch run note of %s", getattr(dag_run, "run_id", "?"))


def _dag_run_of_batch_run(dag_run: Any, dag_id: str, batch_run_id: int) -> Any:
    """The DAG run of ``dag_id`` whose extract recorded the batch run ``batch_run_id`` (latest first)."""
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel

    session = object_session(dag_run)
    if session is None:
        return None
    rows = session.execute(select(XComModel.run_id, XComModel.value).where(
        XComModel.dag_id == dag_id, XComModel.key == BATCH_RUN_XCOM).order_by(XComModel.timestamp.desc())).all()
    for run_id, value in rows:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if isinstance(value, dict) and str(value.get("run_id")) == str(batch_run_id):
            return session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    return None


def _note_rollback(rollback_run: Any) -> None:
    """A rollback DAG run undid a batch run: the note of the DAG run that loaded it says by which."""
    summary = _returned(rollback_run, "rollback")
    if not summary or summary.get("run_id") is None:
        return
    dag_id = rollback_run.dag_id[: -len(ROLLBACK_SUFFIX)]
    # the batch's own DAG loaded it, or (a repair run) its reconcile DAG
    target = (_dag_run_of_batch_run(rollback_run, dag_id, summary["run_id"])
              or _dag_run_of_batch_run(rollback_run, dag_id + RECONCILE_SUFFIX, summary["run_id"]))
    if target is None or (target.note and not is_own_note(target.note)):
        return
    base = target.note or note_text(_batch_run(target), str(getattr(target, "state", "") or "ended"))
    base = base.split("; rolled back by ")[0]
    target.note = (f"{base}; rolled back by {rollback_run.dag_id} run {rollback_run.run_id} "
                   f"({summary.get('rows_deleted', 0)} rows deleted, {summary.get('rows_restored', 0)} restored)")


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _annotate(dag_run, DagRunState.SUCCESS.value)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _annotate(dag_run, DagRunState.FAILED.value)


class GaussDBBatchPlugin(AirflowPlugin):
    """Registers the run-note listener in the scheduler."""

    name = "gaussdb_batch"
    listeners = [sys.modules[__name__]]
