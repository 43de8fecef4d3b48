"""The DAG factory: one BatchSpec in, one Airflow DAG (or TaskGroup) out.

extract >> load[lane 0..n-1] >> check >> finalize >> done, with compensate running only when a
load lane or the check failed. Pools and retries are set in ``partial`` (never in
``expand``); interval batches get a CronDataIntervalTimetable, because a bare cron string
means a zero-length interval in Airflow 3. Building a DAG touches no database.

An adaptive batch is a continuous DAG (``schedule="@continuous"``, ``max_active_runs=1``)
whose first task, ``wait_for_backlog``, defers until the source has rows past the watermark
and hands extract the interval to load; ``advance_watermark`` follows finalize. Every batch
also gets a manual rollback DAG. The operators themselves live in ``operators/``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, CronTriggerTimetable, Param, TaskGroup

from gaussdb_batch.alerting import build_callbacks, build_deadlines
from gaussdb_batch.assets import target_outlets
from gaussdb_batch.engine.choices import SourceKind
from gaussdb_batch.engine.spec import BatchSpec
from gaussdb_batch.engine.spec_parser import load_spec
from gaussdb_batch.operators.adaptive import AdvanceWatermarkOperator, BacklogSensor
from gaussdb_batch.operators.batch import (
    CheckOperator,
    CompensateOperator,
    ExtractOperator,
    FinalizeOperator,
    LoadLaneOperator,
)
from gaussdb_batch.operators.reconcile import ReconcileOperator

#: Task ids of an adaptive DAG's first task (the backlog sensor) and of the one after finalize.
WAIT_TASK_ID = "wait_for_backlog"
ADVANCE_TASK_ID = "advance_watermark"
#: Task id of the reconcile DAG's one task.
RECONCILE_TASK_ID = "reconcile"


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
    if src.kind == SourceKind.TABLE:
        source = f"`{src.table}` (connection `{src.conn_id}`), interval column `{src.interval_column}`"
    elif src.kind == SourceKind.SQL:
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
        "The run loads its own data interval: to (re)process one by hand, trigger with a logical date and "
        "pick the data interval in the trigger form; `airflow backfill create` for a range. A finished DAG "
        f"run's note names its interval and batch run; undo one with `{spec.dag_id}__rollback`.",
    ]
    return "\n".join(lines)


def batch_task_group(spec: BatchSpec, *, group_id: str | None = None, tooltip: str | None = None) -> TaskGroup:
    """The batch's tasks as a TaskGroup, for use inside a hand-written DAG (call within ``with DAG``)."""
    with TaskGroup(group_id=group_id or spec.name, tooltip=tooltip or f"gaussdb-batch {spec.name}") as group:
        add_batch_tasks(spec)
    return group


def add_batch_tasks(spec: BatchSpec, *, interval: Any = None, repair: Any = None) -> dict[str, Any]:
    """Add the batch's tasks to the current DAG or TaskGroup; returns them by name.

    ``interval`` (e.g. an adaptive sensor's XComArg) overrides the data interval; ``repair`` (a
    ReconcileOperator's XComArg) makes the run a repair of that reconciliation's differing records.
    The keys are extract, load, check, finalize, compensate and done (the one end to put downstream
    tasks after).
    """
    retries = retry_args(spec)
    extract = ExtractOperator(task_id="extract", spec=spec, pool=spec.extract_pool, interval=interval, repair=repair,
                              **retries)
    load = LoadLaneOperator.partial(
        task_id="load", spec=spec, run_id=extract.output, pool=spec.pool, **retries
    ).expand(lane=list(range(spec.lanes)))
    check = CheckOperator(task_id="check", spec=spec, run_id=extract.output, **retries)
    finalize = FinalizeOperator(task_id="finalize", spec=spec, run_id=extract.output, outlets=target_outlets(spec),
                                **retries)
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


def build_dag(spec: BatchSpec) -> DAG:
    """The scheduled DAG of one batch."""
    if spec.adaptive is not None:
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
        **deadline_args(spec),
    ) as dag:
        add_batch_tasks(spec)
    return dag


def build_adaptive_dag(spec: BatchSpec) -> DAG:
    """The continuous DAG of an adaptive batch (``schedule: {type: adaptive, ...}``)."""
    a = spec.adaptive
    if a is None:
        raise ValueError(f"batch {spec.name!r} has no adaptive schedule")
    c = spec.chunk_sizing
    sizing = (f", chunk size adapts toward {c.target_seconds:g}s per chunk within {c.min_rows}..{c.max_rows} rows"
              if c is not None else "")
    doc = (
        f"{doc_md(spec)}\n\nAdaptive: `{WAIT_TASK_ID}` polls the source every T seconds "
        f"(T in {a.t_min:g}..{a.t_max:g}, step {a.step:g}; shorter while more than {a.backlog_threshold} rows wait)"
        f" and starts a load as soon as rows wait{sizing}. State: `{spec.control_schema}.batch_state`."
    )
    with DAG(
        dag_id=spec.dag_id,
        schedule="@continuous",
        start_date=spec.start_date,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(spec),
        tags=[*spec.tags, "adaptive"],
        doc_md=doc,
        description=(spec.description or f"gaussdb-batch (adaptive): {spec.source.table} -> {spec.target.table}")[:200],
        **deadline_args(spec),
    ) as dag:
        wait = BacklogSensor(task_id=WAIT_TASK_ID, spec=spec)
        tasks = add_batch_tasks(spec, interval=wait.output)
        advance = AdvanceWatermarkOperator(task_id=ADVANCE_TASK_ID, spec=spec, run_id=tasks["extract"].output)
        tasks["finalize"] >> advance >> tasks["done"]
    return dag


def deadline_args(spec: BatchSpec) -> dict[str, Any]:
    """DAG kwargs: a DeadlineAlert per failure target when the spec sets ``alerting.late_after_minutes``."""
    deadlines = build_deadlines(spec.alerting, batch=spec.name)
    return {"deadline": deadlines} if deadlines else {}


def build_rollback_dag(spec: BatchSpec) -> DAG:
    """A manual DAG that rolls back one earlier finished run of the batch: param ``dag_run_id`` (or ``run_id``)."""
    with DAG(
        dag_id=f"{spec.dag_id}__rollback",
        schedule=None,
        start_date=spec.start_date,
        catchup=False,
        default_args={"owner": spec.owner, **retry_args(spec), "retries": max(1, spec.retries)},
        tags=[*spec.tags, "rollback"],
        doc_md=f"Roll back a finished run of batch `{spec.name}`: trigger with param `dag_run_id`, the run id "
               f"of the `{spec.dag_id}` DAG run to undo as the UI shows it (e.g. "
               f"`scheduled__2024-01-01T00:00:00+00:00`), or with `run_id` from `{spec.control_schema}.runs`. "
               "Refused when a later run changed the same keys.",
        params={
            "dag_run_id": Param(None, type=["null", "string"], title="DAG run to undo",
                                description=f"The run id of a finished {spec.dag_id} DAG run, as shown in the UI"),
            "run_id": Param(None, type=["null", "integer"], minimum=1, title="or: control run id",
                            description=f"run_id in {spec.control_schema}.runs (instead of dag_run_id)"),
        },
    ) as dag:
        CompensateOperator(
            task_id="rollback", spec=spec, run_id="{{ params.run_id }}", dag_run_id="{{ params.dag_run_id }}",
            manual=True, pool=spec.pool,
        )
    return dag


def reconcile_task_group(spec: BatchSpec, *, group_id: str | None = None, tooltip: str | None = None) -> TaskGroup:
    """The batch's reconciliation (its ``reconcile`` section) as a TaskGroup for a hand-written DAG.

    Call within ``with DAG``; the scope's last intervals end at that DAG run's logical time.
    """
    with TaskGroup(group_id=group_id or f"{spec.name}__reconcile",
                   tooltip=tooltip or f"gaussdb-batch {spec.name}: reconcile the source with the target") as group:
        add_reconcile_tasks(spec)
    return group


def add_reconcile_tasks(spec: BatchSpec) -> dict[str, Any]:
    """The reconcile task and, in repair mode, the run that repairs what it found: reconcile >> extract
    >> load[lanes] >> check >> finalize >> done, compensate on failure (the batch's own tasks, fed the
    reconciliation's result instead of an interval). Returns the tasks by name (``reconcile`` and, in
    repair mode, add_batch_tasks' keys)."""
    rec = spec.reconcile
    if rec is None:
        raise ValueError(f"batch {spec.name!r} has no reconcile section")
    reconcile = ReconcileOperator(task_id=RECONCILE_TASK_ID, spec=spec, pool=spec.pool, **retry_args(spec))
    tasks: dict[str, Any] = {"reconcile": reconcile}
    if rec.mode == "repair":
        tasks.update(add_batch_tasks(spec, repair=reconcile.output))
        reconcile >> tasks["extract"]
    return tasks


def build_reconcile_dag(spec: BatchSpec) -> DAG:
    """The scheduled reconciliation of a batch with a ``reconcile`` section: ``<name>__reconcile``.

    A CronTriggerTimetable: each run's logical time is the moment it was due, where the scope's
    last intervals end. One run at a time, no catchup, in the batch's pool.
    """
    rec = spec.reconcile
    if rec is None:
        raise ValueError(f"batch {spec.name!r} has no reconcile section")
    with DAG(
        dag_id=f"{spec.dag_id}__reconcile",
        schedule=CronTriggerTimetable(rec.schedule, timezone=spec.timezone),
        start_date=spec.start_date,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(spec),
        tags=[*spec.tags, "reconcile"],
        doc_md=f"Reconcile batch `{spec.name}`: compare the live source with `{spec.target.table}` "
               f"({rec.scope}{f', last {rec.last_intervals} intervals' if rec.last_intervals else ''}), "
               f"mode `{rec.mode}`: differing rows are recorded in `{spec.control_schema}`, shown on the "
               "Batches page and alerted to the on_failure targets; the reconcile task succeeds. "
               + ("Then extract, load, check and finalize re-sync the differing records from the source as a "
                  "run of their own (skipped when nothing differs); compensate undoes it when it fails, and "
                  f"`{spec.dag_id}__rollback` undoes it later by its run_id."
                  if rec.mode == "repair" else "The target is not changed."),
        description=f"gaussdb-batch: reconcile {spec.name} ({rec.mode})"[:200],
    ) as dag:
        add_reconcile_tasks(spec)
    return dag


def dags_for_spec(spec: BatchSpec) -> dict[str, DAG]:
    """One batch as {dag_id: DAG}: its scheduled DAG, its rollback DAG and, with a ``reconcile``
    section, its reconcile DAG."""
    dags = [build_dag(spec), build_rollback_dag(spec)]
    if spec.reconcile is not None:
        dags.append(build_reconcile_dag(spec))
    return {dag.dag_id: dag for dag in dags}


def include_folder() -> Path:
    """Where the specs live: ``GAUSSDB_BATCH_INCLUDE`` (default ``include/`` next to ``dags/``)."""
    env = os.environ.get("GAUSSDB_BATCH_INCLUDE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "include"


def spec_path(dag_file: str | Path, folder: str | Path | None = None) -> Path:
    """The spec of a per-batch DAG file: ``dags/<name>.py`` reads ``include/batches/<name>.yaml``."""
    return Path(folder or include_folder() / "batches") / f"{Path(dag_file).stem}.yaml"


def dags_for_file(dag_file: str | Path, folder: str | Path | None = None) -> dict[str, DAG]:
    """The DAGs of the batch named like the DAG file; a bad spec raises naming file, line and field.

    One DAG file per spec (``globals().update(dags_for_file(__file__))``) makes a bad spec an
    import error of that file alone: every other batch keeps its DAGs.
    """
    return dags_for_spec(load_spec(spec_path(dag_file, folder)))
