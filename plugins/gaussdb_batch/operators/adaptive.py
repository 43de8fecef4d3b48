"""Adaptive micro-batch DAGs: a continuous DAG whose first task waits for backlog with an adaptive period.

``wait_for_backlog >> extract >> load[lanes] >> check >> finalize >> advance_watermark``, with
``compensate`` as in every batch DAG. ``schedule="@continuous"`` and ``max_active_runs=1``: a
new run starts as soon as the previous one ends, and its sensor defers to the triggerer
(no worker slot while waiting). Each poll waits the current period, counts the source rows
past the watermark, and applies the seed's rule (section 2.4) to the period, which is stored
in ``batch_state`` so it survives runs. The first poll that sees rows ends the wait and hands
extract the interval [watermark, the source's now()). After finalize, the watermark moves to
the run's interval end and, with ``chunk_target_seconds``, the chunk size adapts (AIMD).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG

from gaussdb_batch import metrics
from gaussdb_batch.engine.spec import BatchSpec
from gaussdb_batch.operators.batch import FinalizeOperator, _BatchOperator, fail_fast
from gaussdb_batch.operators.factory import _add_tasks, _deadline, default_args, doc_md

WAIT_TASK_ID = "wait_for_backlog"
ADVANCE_TASK_ID = "advance_watermark"


class BacklogSensor(_BatchOperator):
    """Wait (deferred) until the source has rows past the watermark; return the interval to load.

    Returns ``{"start", "end", "backlog", "period", "polls"}``: ``start``/``end`` (ISO) feed
    ExtractOperator's ``interval``; ``polls`` lists this wait's polls as [period, waited, backlog].
    The backlog gauge and the current period are emitted here, in the worker, after each poll.
    """

    ui_color = "#f3e5ff"

    @fail_fast
    def execute(self, context: Any) -> None:
        from gaussdb_batch.engine.adaptive import poll_start
        from gaussdb_batch.engine.control import ensure_control_schema

        ensure_control_schema(self.batch)
        start = poll_start(self.batch)
        self._wait(start.watermark.isoformat(), start.period, [])

    def _wait(self, watermark: str, period: float, polls: list) -> None:
        from gaussdb_batch.triggers.backlog import BacklogTrigger

        src = self.spec.source
        column = self.spec.adaptive.watermark_column or src.interval_column  # type: ignore[union-attr]
        self.log.info("batch=%s: waiting %.3gs, then counting rows of %s past %s", self.spec.name, period,
                      src.table, watermark)
        self.defer(
            trigger=BacklogTrigger(conn_id=src.conn_id, table=str(src.table), column=column, watermark=watermark,
                                   period=period, batch=self.spec.name, polls=polls),
            method_name="resume",
        )

    def resume(self, context: Any, event: dict | None = None) -> dict | None:
        self._event = event or {}
        return self._after_poll(context)

    @fail_fast
    def _after_poll(self, context: Any) -> dict | None:
        from gaussdb_batch.engine.adaptive import next_period, record_poll

        event = self._event
        backlog = int(event["backlog"])
        period = next_period(float(event["period"]), backlog, self.spec.adaptive)  # type: ignore[arg-type]
        record_poll(self.batch, period, backlog)
        metrics.backlog(self.spec.name, backlog)
        metrics.schedule_interval(self.spec.name, period)
        if backlog > 0:
            self.log.info("batch=%s: %s rows wait; loading %s .. %s (next period %.3gs)", self.spec.name, backlog,
                          event["watermark"], event["cutoff"], period)
            return {"start": event["watermark"], "end": event["cutoff"], "backlog": backlog, "period": period,
                    "polls": event.get("polls", [])}
        self._wait(event["watermark"], period, event.get("polls", []))
        return None


class AdvanceWatermarkOperator(FinalizeOperator):
    """After finalize: move the watermark to the run's interval end and adapt the chunk size."""

    @fail_fast
    def execute(self, context: Any) -> dict:
        from gaussdb_batch.engine.adaptive import after_run

        return after_run(self.batch, int(self.run_id))


def build_adaptive_dag(spec: BatchSpec) -> DAG:
    """The continuous DAG of an adaptive batch (``schedule: {type: adaptive, ...}``)."""
    a = spec.adaptive
    if a is None:
        raise ValueError(f"batch {spec.name!r} has no adaptive schedule")
    sizing = (f", chunk size adapts toward {spec.chunk_target_seconds:g}s per chunk within "
              f"{spec.chunk_rows_min}..{spec.chunk_rows_max} rows" if spec.chunk_target_seconds else "")
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
        **_deadline(spec),
    ) as dag:
        wait = BacklogSensor(task_id=WAIT_TASK_ID, spec=spec)
        tasks = _add_tasks(spec, interval=wait.output)
        advance = AdvanceWatermarkOperator(task_id=ADVANCE_TASK_ID, spec=spec, run_id=tasks["extract"].output)
        tasks["finalize"] >> advance >> tasks["done"]
    return dag
