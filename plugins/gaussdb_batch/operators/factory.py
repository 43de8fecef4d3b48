"""The DAG factory: one BatchSpec in, one Airflow DAG (or TaskGroup) out.

extract >> load[lane 0..n-1] >> check >> finalize, with compensate running only when a
load lane or the check failed. Pools and retries are set in ``partial`` (never in
``expand``); interval batches get a CronDataIntervalTimetable, because a bare cron string
means a zero-length interval in Airflow 3. Building a DAG touches no database.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup

from gaussdb_batch.alerting import build_callbacks, build_deadlines
from gaussdb_batch.engine.spec import BatchSpec, load_specs
from gaussdb_batch.operators.batch import (
    CheckOperator,
    CompensateOperator,
    ExtractOperator,
    FinalizeOperator,
    LoadLaneOperator,
)


def retry_args(spec: BatchSpec) -> dict[str, Any]:
    """Airflow retries with exponential backoff, from the spec."""
    return {
        "retries": spec.retries,
        "retry_delay": dt.timedelta(seconds=spec.retry_delay_seconds),
        "retry_exponential_backoff": spec.retry_exponential_backoff,
        "max_retry_delay": dt.timedelta(seconds=spec.max_retry_delay_seconds),
    }


def default_args(spec: BatchSpec) -> dict[str, Any]:
    """Owner, retries and the batch's failure/retry notifiers for every task."""
    return {"owner": spec.owner, **retry_args(spec), **build_callbacks(spec.alerting, batch=spec.name)}


def doc_md(spec: BatchSpec) -> str:
    """A readable description of the batch for the Airflow UI, generated from the spec."""
    src = spec.source
    if src.kind == "table":
        source = f"`{src.table}` (connection `{src.conn_id}`), interval column `{src.interval_column}`"
    elif src.kind == "sql":
        source = f"a SQL query on connection `{src.conn_id}`"
    else:
        source = f"files `{src.files}` ({src.file_format})"
    schedule = spec.schedule or (
        f"adaptive (period {spec.adaptive.t_min:g}..{spec.adaptive.t_max:g}s)" if spec.adaptive else "manual"
    )
    lines = [
        f"# Batch `{spec.name}`",
        spec.description or "",
        "",
        "| | |", "|---|---|",
        f"| source | {source} |",
        f"| target | `{spec.target.table}` (connection `{spec.target.conn_id}`) |",
        f"| keys | {', '.join(f'`{k}`' for k in spec.keys)} |",
        f"| mode | {spec.mode} |",
        f"| schedule | `{schedule}` ({spec.timezone}) |",
        f"| chunks | {spec.chunk_rows} rows, {spec.lanes} lanes in pool `{spec.pool}` |",
        f"| rejects allowed | {spec.max_rejects} |",
        f"| retries | {spec.retries}, backoff x{spec.retry_exponential_backoff:g} from {spec.retry_delay_seconds:g}s |",
        f"| control schema | `{spec.control_schema}` |",
        "",
        "extract → load (lanes) → check → finalize; compensate undoes the run when load or check fails.",
        "Trigger manually with params `interval_start` / `interval_end` to (re)process any interval.",
    ]
    return "\n".join(lines)


def batch_task_group(spec: BatchSpec, *, group_id: str | None = None, tooltip: str | None = None) -> TaskGroup:
    """The batch's tasks as a TaskGroup, for use inside a hand-written DAG (call within ``with DAG``)."""
    with TaskGroup(group_id=group_id or spec.name, tooltip=tooltip or f"gaussdb-batch {spec.name}") as group:
        _add_tasks(spec)
    return group


def _add_tasks(spec: BatchSpec, *, interval: Any = None) -> dict[str, Any]:
    """The batch's tasks; ``interval`` (e.g. an adaptive sensor's XComArg) overrides the data interval."""
    retries = retry_args(spec)
    extract = ExtractOperator(task_id="extract", spec=spec, pool=spec.extract_pool, interval=interval, **retries)
    load = LoadLaneOperator.partial(
        task_id="load", spec=spec, run_id=extract.output, pool=spec.pool, **retries
    ).expand(lane=list(range(spec.lanes)))
    check = CheckOperator(task_id="check", spec=spec, run_id=extract.output, **retries)
    finalize = FinalizeOperator(task_id="finalize", spec=spec, run_id=extract.output, **retries)
    compensate = CompensateOperator(
        task_id="compensate", spec=spec, extract_task_id=extract.task_id, trigger_rule="one_failed", **retries
    )
    # One end for what follows the batch: it succeeds after finalize, and is upstream_failed
    # when the run failed (compensated or not), so a TaskGroup's downstream never runs on a
    # failed batch and never gets skipped on a good one.
    done = EmptyOperator(task_id="done", trigger_rule="none_failed_min_one_success", **retries)
    extract >> load >> check >> finalize >> done
    [load, check] >> compensate >> done
    return {"extract": extract, "load": load, "check": check, "finalize": finalize, "compensate": compensate,
            "done": done}


def interval_params() -> dict[str, Param]:
    return {
        "interval_start": Param(None, type=["null", "string"], description="Override the data interval start (ISO)"),
        "interval_end": Param(None, type=["null", "string"], description="Override the data interval end (ISO)"),
    }


def build_dag(spec: BatchSpec) -> DAG:
    """The scheduled DAG of one batch."""
    if spec.adaptive is not None:
        from gaussdb_batch.operators.adaptive import build_adaptive_dag

        return build_adaptive_dag(spec)
    timetable = CronDataIntervalTimetable(spec.schedule, timezone=spec.timezone) if spec.schedule else None
    with DAG(
        dag_id=spec.dag_id,
        schedule=timetable,
        start_date=spec.start_date,
        catchup=spec.catchup,
        max_active_runs=1,
        default_args=default_args(spec),
        tags=list(spec.tags),
        doc_md=doc_md(spec),
        description=(spec.description or f"gaussdb-batch: {spec.source.kind} -> {spec.target.table}")[:200],
        params=interval_params(),
        **_deadline(spec),
    ) as dag:
        _add_tasks(spec)
    return dag


def _deadline(spec: BatchSpec) -> dict[str, Any]:
    """A DeadlineAlert per failure target when the spec sets ``alerting.late_after_minutes``."""
    deadlines = build_deadlines(spec.alerting, batch=spec.name)
    return {"deadline": deadlines} if deadlines else {}


def build_rollback_dag(spec: BatchSpec) -> DAG:
    """A manual DAG that rolls back one earlier finished run of the batch (param ``run_id``)."""
    with DAG(
        dag_id=f"{spec.dag_id}__rollback",
        schedule=None,
        start_date=spec.start_date,
        catchup=False,
        default_args={"owner": spec.owner, **retry_args(spec), "retries": max(1, spec.retries)},
        tags=[*spec.tags, "rollback"],
        doc_md=f"Roll back a finished run of batch `{spec.name}`: trigger with param `run_id` "
               f"(see `{spec.control_schema}.runs`). Refused when a later run changed the same keys.",
        params={"run_id": Param(type="integer", minimum=1, description="run_id in the control schema's runs table")},
    ) as dag:
        CompensateOperator(
            task_id="rollback", spec=spec, run_id="{{ params.run_id }}", manual=True, pool=spec.pool,
        )
    return dag


def dags_from_folder(folder: str | Path) -> dict[str, DAG]:
    """Every spec in a folder as {dag_id: DAG}, plus each batch's rollback DAG."""
    dags: dict[str, DAG] = {}
    for spec in load_specs(folder):
        for dag in (build_dag(spec), build_rollback_dag(spec)):
            dags[dag.dag_id] = dag
    return dags
