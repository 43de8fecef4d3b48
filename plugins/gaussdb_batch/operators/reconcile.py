"""The scheduled reconciliation's operator: the live source against the target.

The scope comes from the spec's ``reconcile`` section and the run's logical time: the last N data
intervals of the batch's own schedule that ended by then, a key range, or the whole table. The
engine (engine.reconciliation) compares and records; this task logs the summary, pushes the
counts as its XCom, emits the metrics and alerts the ``on_failure`` targets when rows differ.
Finding differences is not a failure: the task succeeds, with a warning. In repair mode the batch's own
extract, load, check and finalize follow it (dag_factory.add_reconcile_tasks), fed its XCom.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from gaussdb_batch import metrics
from gaussdb_batch.engine.choices import DiffKind, ReconcileScopeKind
from gaussdb_batch.engine.spec import BatchSpec, ReconcileSpec
from gaussdb_batch.operators.batch import BatchOperator, fail_fast

if TYPE_CHECKING:
    from gaussdb_batch.engine.reconciliation import ReconcileScope


def last_intervals(schedule: str, timezone: str, n: int, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the last ``n`` data intervals of a cron ``schedule`` that ended at or before ``at``.

    ``end`` is the latest tick of the schedule not after ``at`` (``at`` itself when it is a tick),
    ``start`` the tick ``n`` ticks before it; both in UTC.
    """
    from croniter import croniter

    local = at.astimezone(zoneinfo.ZoneInfo(timezone))
    following = croniter(schedule, local - dt.timedelta(seconds=1)).get_next(dt.datetime)
    end = following if following <= local else croniter(schedule, local).get_prev(dt.datetime)
    ticks = croniter(schedule, end)
    start = end
    for _ in range(n):
        start = ticks.get_prev(dt.datetime)
    return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)


def reconcile_scope(spec: BatchSpec, at: dt.datetime) -> ReconcileScope:
    """What the reconciliation of ``spec`` run at logical time ``at`` compares."""
    from gaussdb_batch.engine.reconciliation import ReconcileScope

    rec = _section(spec)
    if rec.scope == ReconcileScopeKind.INTERVALS:
        if spec.schedule is None or rec.last_intervals is None:
            raise AirflowFailException(f"batch {spec.name!r}: reconcile.scope.last_intervals needs a cron schedule")
        start, end = last_intervals(spec.schedule, spec.timezone, rec.last_intervals, at)
        return ReconcileScope(kind=rec.scope, start=start, end=end, key_lo=None, key_hi=None)
    if rec.scope == ReconcileScopeKind.KEYS:
        return ReconcileScope(kind=rec.scope, start=None, end=None, key_lo=rec.key_lo, key_hi=rec.key_hi)
    return ReconcileScope(kind=rec.scope, start=None, end=None, key_lo=None, key_hi=None)


def _section(spec: BatchSpec) -> ReconcileSpec:
    if spec.reconcile is None:
        raise AirflowFailException(f"batch {spec.name!r} has no reconcile section")
    return spec.reconcile


def describe_scope(scope: Any) -> str:
    """The scope as a person reads it (logs, alerts)."""
    if scope.kind == ReconcileScopeKind.INTERVALS:
        return f"intervals {scope.start.isoformat()} .. {scope.end.isoformat()}"
    if scope.kind == ReconcileScopeKind.KEYS:
        return f"keys {scope.key_lo} .. {scope.key_hi}"
    return "the whole table"


class ReconcileOperator(BatchOperator):
    """Compare the batch's live source with its target (``reconcile`` section, report mode) and record the
    differing rows in the control schema.

    Returns (XCom) ``{"recon_id", "scope", "source_rows", "target_rows", "ranges_compared", "seconds",
    "missing_in_target", "extra_in_target", "changed", "differences"}``. Differences found are logged as a
    warning, counted in metrics and sent to the ``alerting.on_failure`` targets; the task still succeeds.

    :param spec: the batch's validated spec (``engine.spec.load_spec``); it must have a ``reconcile`` section
    """

    ui_color = "#fdf3e1"

    def __init__(self, *, spec: BatchSpec, **kwargs: Any) -> None:
        if spec.reconcile is None:
            raise ValueError(f"batch {spec.name!r} has no reconcile section: no reconciliation to run")
        super().__init__(spec=spec, **kwargs)

    @fail_fast
    def execute(self, context: Any) -> dict:
        from gaussdb_batch.engine.reconciliation import ReconcileScopeError, reconcile

        rec = _section(self.spec)
        scope = reconcile_scope(self.spec, _logical_time(context))
        try:
            result = reconcile(self.batch, scope, leaf_rows=rec.leaf_rows, parallel=rec.parallel, mode=rec.mode)
        except ReconcileScopeError as exc:
            raise AirflowFailException(f"batch {self.spec.name!r}: {exc} (permanent error: not retried)") from exc
        counts = {kind.value: int(result.differences.get(kind, 0)) for kind in DiffKind}
        total = sum(counts.values())
        metrics.reconcile_finished(self.spec.name, counts, seconds=result.seconds, ranges=result.ranges_compared)
        where = describe_scope(scope)
        summary = (f"batch {self.spec.name}: reconciliation {result.recon_id} of {where}: "
                   f"{result.source_rows} source rows, {result.target_rows} target rows, "
                   f"{result.ranges_compared} key ranges compared in {result.seconds:.1f}s, "
                   + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
        if total:
            then = ("repair mode: the extract after this task re-syncs them from the source" if rec.mode == "repair"
                    else "report mode: the target is unchanged")
            self.log.warning("%s: %d rows differ (%s; the records are on the Batches page)", summary, total, then)
            from gaussdb_batch.alerting import reconcile_notifier

            reconcile_notifier(self.spec.alerting, batch=self.spec.name)(
                f"{summary}: {total} rows differ", context)
        else:
            self.log.info("%s: no difference", summary)
        return {"recon_id": result.recon_id, "scope": where, "source_rows": result.source_rows,
                "target_rows": result.target_rows, "ranges_compared": result.ranges_compared,
                "seconds": round(result.seconds, 3), **counts, "differences": total}


def _logical_time(context: Any) -> dt.datetime:
    """The run's logical time; a manual run without one uses the time it was queued to run after."""
    value = context.get("logical_date")
    if value is None:
        dag_run = context.get("dag_run")
        value = getattr(dag_run, "run_after", None)
    if value is None:
        raise AirflowFailException("this reconcile run has neither a logical date nor a run_after time")
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
