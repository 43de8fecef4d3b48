"""A DAG run note naming the interval and the batch run, written by the scheduler when the run ends.

Tasks cannot write DAG run notes (the Task SDK has no call for it and tasks never touch the
metadata database), but Airflow's listeners run in the scheduler: when a DAG run of a batch
finishes, this reads the ``batch_run`` XCom extract left and, unless someone already wrote a
note, sets one such as ``Loaded 1992-07-01 .. 1992-10-01: batch run 42 (attempt 1) in
gaussdb_batch.runs, success``. Registered by the ``airflow.plugins`` entry point of the
provider (``GaussDBBatchPlugin``).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)
#: The XCom key extract pushes (operators/batch.py).
BATCH_RUN_XCOM = "batch_run"


def note_text(batch_run: dict[str, Any], state: str) -> str:
    """The note of a DAG run whose extract recorded ``batch_run``."""
    interval = " .. ".join(part.strip()[:10] if part.strip()[10:] in ("T00:00:00+00:00", "") else part.strip()
                           for part in str(batch_run.get("interval", "?")).split(".."))
    return (f"Loaded {interval}: batch run {batch_run.get('run_id')} (attempt {batch_run.get('attempt')}) in "
            f"{batch_run.get('control_schema', 'gaussdb_batch')}.runs, {state}")


def _batch_run(dag_run: Any) -> dict[str, Any] | None:
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from airflow.models.xcom import XComModel

    session = object_session(dag_run)
    if session is None:
        return None
    value = session.scalar(
        select(XComModel.value).where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id,
                                      XComModel.key == BATCH_RUN_XCOM).limit(1))
    if isinstance(value, str):  # stored through serialize_value; the Task Execution API stores JSON as is
        value = json.loads(value)
    return value if isinstance(value, dict) else None


def _annotate(dag_run: Any, state: str) -> None:
    try:
        if dag_run.note:
            return  # never overwrite what a person wrote
        batch_run = _batch_run(dag_run)
        if batch_run is not None:
            dag_run.note = note_text(batch_run, state)
    except Exception:  # a note is a courtesy: it must never disturb the scheduler
        log.exception("could not write the batch run note of %s", getattr(dag_run, "run_id", "?"))


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _annotate(dag_run, "success")


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _annotate(dag_run, "failed")


class GaussDBBatchPlugin(AirflowPlugin):
    """Registers the run-note listener in the scheduler."""

    name = "gaussdb_batch"
    listeners = [sys.modules[__name__]]
