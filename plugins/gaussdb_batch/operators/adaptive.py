"""The two operators of an adaptive micro-batch: the backlog sensor and the watermark advance.

``dag_factory.build_adaptive_dag`` puts them around a batch's tasks in a continuous DAG:
``wait_for_backlog >> extract >> load[lanes] >> check >> finalize >> advance_watermark``. A
new run starts as soon as the previous one ends, and its sensor defers to the triggerer
(no worker slot while waiting). Each poll waits the current period, counts the source rows
past the watermark, and applies the seed's rule (section 2.4) to the period, which is stored
in ``batch_state`` so it survives runs. The first poll that sees rows ends the wait and hands
extract the interval [watermark, the source's now()). After finalize, the watermark moves to
the run's interval end and, with ``chunk_target_seconds``, the chunk size adapts (AIMD).
"""

from __future__ import annotations

from typing import Any

from gaussdb_batch import metrics
from gaussdb_batch.engine.spec import SpecError
from gaussdb_batch.operators.batch import FinalizeOperator, BatchOperator, fail_fast


class BacklogSensor(BatchOperator):
    """Wait (deferred) until the source has rows past the watermark; return the interval to load.

    Returns ``{"start", "end", "backlog", "period", "polls"}``: ``start``/``end`` (ISO) feed
    ExtractOperator's ``interval``; ``polls`` lists this wait's polls as [period, waited, backlog].
    The backlog gauge and the current period are emitted here, in the worker, after each poll.

    :param spec: the batch's validated spec (``engine.spec.load_spec``); with its ``adaptive`` schedule
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
        column = self.spec.adaptive_schedule.watermark_column or src.interval_column
        if src.conn_id is None or column is None:
            raise SpecError(f"batch {self.spec.name!r}: an adaptive schedule needs a source connection and a "
                            "watermark column (adaptive.watermark_column or source.interval_column)")
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
        period = next_period(float(event["period"]), backlog, self.spec.adaptive_schedule)
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
    """After finalize: move the watermark to the run's interval end and adapt the chunk size.

    :param spec: the batch's validated spec (``engine.spec.load_spec``); with its ``adaptive`` schedule
    :param run_id: the control schema's run id to act on (templated; usually ``extract.output``, the run id
        ExtractOperator returns)
    """

    @fail_fast
    def execute(self, context: Any) -> dict:
        from gaussdb_batch.engine.adaptive import after_run

        return after_run(self.batch, int(self.run_id))
