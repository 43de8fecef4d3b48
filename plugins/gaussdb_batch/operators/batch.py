"""Operators of one batch run: extract, load (one per lane), check, compensate, finalize.

Each operator is a thin shell over the engine: it resolves the data interval and the run
id, builds a BatchContext, and turns errors that retrying cannot fix (bad spec, bad data
over the reject limit, missing table, bad SQL) into AirflowFailException so Airflow fails
the task at once instead of spending its retries.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException

from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.spec import BatchSpec, SpecError
from gaussdb_batch.engine.state import Owner
from gaussdb_batch.hooks.agdb_login import ChallengeRefused
from gaussdb_batch.hooks.auth import UnsupportedAuthError
from gaussdb_batch.hooks.errors import PermanentDBError
from gaussdb_batch.identifiers import IdentifierError

#: A login this client refuses to answer (no driver for the exchange, an impossible challenge) is one too.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (PermanentBatchError, PermanentDBError, SpecError, IdentifierError,
                                                     UnsupportedAuthError, ChallengeRefused)


def fail_fast(execute: Callable) -> Callable:
    """Permanent errors fail the task without retries, with the engine's message.

    A connection missing from Airflow is one of them: retrying cannot create it.
    """

    @functools.wraps(execute)
    def wrapper(self: BatchOperator, context: Any) -> Any:
        self._owner = Owner.from_context(context)
        try:
            return execute(self, context)
        except PERMANENT_ERRORS as exc:
            raise AirflowFailException(f"{exc} (permanent error: not retried)") from exc
        except AirflowNotFoundException as exc:
            raise AirflowFailException(
                f"batch {self.spec.name!r}: {exc}: define the connection (Admin > Connections, "
                "airflow_settings.yaml or an AIRFLOW_CONN_ variable) (permanent error: not retried)"
            ) from exc
        finally:
            self._close()

    return wrapper


def _as_datetime(value: Any, what: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        d = value
    else:
        try:
            d = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise AirflowFailException(f"{what} must be an ISO timestamp, got {value!r}") from None
    return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)


#: What to do when a run has no usable data interval: the one way to pick an interval.
PICK_INTERVAL = (
    "trigger the DAG with a logical date, and pick the data interval in the trigger form (or pass "
    "data_interval_start and data_interval_end to the REST API, or use `airflow backfill create`)"
)


def data_interval(context: Any) -> tuple[dt.datetime, dt.datetime]:
    """The interval to process: the DAG run's own data interval, the one the UI shows.

    Manual runs in Airflow 3 may have none (triggered without a logical date): they fail
    at once saying how to give one, instead of loading an interval nobody chose.
    """
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise AirflowFailException(f"this DAG run has no data interval: {PICK_INTERVAL}")
    if start == end:
        raise AirflowFailException(
            f"zero-length data interval at {start}: schedule interval batches with CronDataIntervalTimetable "
            f"(a bare cron string in Airflow 3 means CronTriggerTimetable), or {PICK_INTERVAL}"
        )
    return _as_datetime(start, "data_interval_start"), _as_datetime(end, "data_interval_end")


class BatchOperator(BaseOperator):
    """The base of a batch's operators: one spec, and the batch's context built on first use.

    :param spec: the batch's validated spec (``engine.spec.load_spec``); every task of a batch gets the same one
    """

    ui_color = "#e8f1fb"

    def __init__(self, *, spec: BatchSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self._context_obj: BatchContext | None = None
        self._owner: Owner | None = None
        #: What execute returned, for the OpenLineage facets reported on completion.
        self._result: dict | None = None

    @property
    def batch(self) -> BatchContext:
        """The batch's context, acting for the DAG run this task belongs to (it owns the attempts it begins)."""
        if self._context_obj is None:
            self._context_obj = BatchContext(self.spec, owner=self._owner)
        return self._context_obj

    def _close(self) -> None:
        if self._context_obj is not None:
            self._context_obj.close()
            self._context_obj = None


class _RunOperator(BatchOperator):
    """An operator acting on one run of the batch: ``run_id`` is templated (usually extract's XCom).

    :param spec: the batch's validated spec (``engine.spec.load_spec``); every task of a batch gets the same one
    :param run_id: the control schema's run id to act on (templated; usually ``extract.output``, the run id
        ExtractOperator returns)
    """

    template_fields: tuple[str, ...] = ("run_id",)

    def __init__(self, *, run_id: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id


class ExtractOperator(BatchOperator):
    """Land the run's data interval in the target database and plan its chunks; returns the run id.

    ``interval`` (templated; e.g. the XCom of an adaptive sensor) is a mapping with ISO
    ``start`` and ``end`` and wins over params and the run's data interval. ``repair`` (templated;
    the XCom of a ReconcileOperator in repair mode) makes the run a repair of that reconciliation's
    differing records instead (engine.repair); with no difference to repair the task is skipped,
    and so are the load, check and finalize after it.

    :param spec: the batch's validated spec (``engine.spec.load_spec``); every task of a batch gets the same one
    :param interval: the interval to load, ``{"start": ISO, "end": ISO}`` (templated); None (the default)
        takes the DAG run's params or its data interval
    :param repair: a reconciliation's result, ``{"recon_id": N, "differences": M, ...}`` (templated); None (the
        default) loads an interval
    """

    template_fields = ("interval", "repair")
    ui_color = "#d7ecff"

    def __init__(self, *, interval: Any = None, repair: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.interval = interval
        self.repair = repair

    @fail_fast
    def execute(self, context: Any) -> int:
        from gaussdb_batch.engine import preflight
        from gaussdb_batch.engine.extract import extract
        from gaussdb_batch.engine.repair import extract_repair

        if self.repair is not None:
            recon_id = self._recon_to_repair()
            preflight.require(self.batch)
            result = extract_repair(self.batch, recon_id)
            what: dict[str, Any] = {"repair_of": recon_id}
        else:
            if self.interval:
                start = _as_datetime(self.interval["start"], "interval.start")
                end = _as_datetime(self.interval["end"], "interval.end")
            else:
                start, end = data_interval(context)
            preflight.require(self.batch)  # the checks of `gaussdb-batch validate --connect`, before any data moves
            result = extract(self.batch, start, end)
            what = {"interval": f"{start.isoformat()} .. {end.isoformat()}"}
        # The batch run this DAG run works on, shown on the DAG run's XCom tab next to its data interval.
        context["ti"].xcom_push(key="batch_run", value={
            "run_id": result.run_id, **what, "attempt": result.attempt, "control_schema": self.spec.control_schema,
        })
        self._result = {
            "rows": result.rows, "rejected": result.rejected, "chunks": result.chunks,
            "attempt": result.attempt, "seconds": round(result.seconds, 3),
        }
        context["ti"].xcom_push(key="extract", value=self._result)
        return result.run_id

    def _recon_to_repair(self) -> int:
        """The reconciliation ``repair`` names; the task is skipped when it found nothing to repair."""
        found = self.repair if isinstance(self.repair, dict) else {}
        if "recon_id" not in found:
            raise AirflowFailException(f"repair needs a reconciliation's result with a recon_id, got {self.repair!r}")
        if not int(found.get("differences") or 0):
            raise AirflowSkipException(f"reconciliation {found['recon_id']} found no differing record: nothing to "
                                       "repair")
        return int(found["recon_id"])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from gaussdb_batch.lineage import extract_lineage

        return extract_lineage(self.spec, self._result)


class LoadLaneOperator(_RunOperator):
    """One loader lane: claims and loads pending chunks until none is left (map it over lanes).

    :param spec: the batch's validated spec (``engine.spec.load_spec``); every task of a batch gets the same one
    :param run_id: the control schema's run id to act on (templated; usually ``extract.output``, the run id
        ExtractOperator returns)
    :param lane: this lane's number, 0..lanes-1 (templated; stored in ``chunks.lane`` of the chunks it loads)
    """

    template_fields = ("run_id", "lane")
    ui_color = "#c9f2d5"

    def __init__(self, *, lane: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lane = lane

    @fail_fast
    def execute(self, context: Any) -> dict:
        from gaussdb_batch.engine.load import run_lane

        result = run_lane(self.batch, int(self.run_id), int(self.lane))
        self._result = {"lane": result.lane, "chunks": result.chunks, "rows_written": result.rows_written,
                        "rows_rejected": result.rows_rejected, "seconds": round(result.seconds, 3)}
        return self._result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from gaussdb_batch.lineage import load_lineage

        return load_lineage(self.spec, self._result)


class CheckOperator(_RunOperator):
    """Reconcile every chunk (count + fingerprint), repair once, then run the batch's expectations.

    :param spec: the batch's validated spec (``engine.spec.load_spec``); every task of a batch gets the same one
    :param run_id: the control schema's run id to act on (templated; usually ``extract.output``, the run id
        ExtractOperator returns)
    """

    ui_color = "#fff2c6"

    @fail_fast
    def execute(self, context: Any) -> dict:
        from gaussdb_batch.engine.check import check_run
        from gaussdb_batch.checks.suite import run_batch_checks

        run_id = int(self.run_id)
        result = check_run(self.batch, run_id)
        quality = run_batch_checks(self.batch, run_id)
        self._result = {"chunks": result.chunks, "rows": result.rows, "repaired": result.repaired,
                        "quality": quality}
        return self._result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from gaussdb_batch.lineage import check_lineage

        return check_lineage(self.spec, self._result)


class CompensateOperator(_RunOperator):
    """Undo the run exactly from its undo journal; runs only when load or check failed.

    The run id comes from the extract task's XCom (absent when extract itself failed:
    then nothing was written and there is nothing to undo), or, for a manual rollback of an
    earlier finished run, from ``dag_run_id`` (the Airflow DAG run that ran it, as the UI shows
    it) or ``run_id`` (the control schema's run id). When it undid nothing (no run, another DAG
    run owns it, already compensated, nothing written) the task ends *skipped*, not green.

    :param spec: the batch's validated spec (``engine.spec.load_spec``); every task of a batch gets the same one
    :param extract_task_id: the task whose XCom is the run id, read when ``run_id`` rendered to nothing
        (in a batch DAG: ``extract``)
    :param run_id: the control schema's run id to undo (templated); for a manual rollback, give this or
        ``dag_run_id``
    :param dag_run_id: for a manual rollback: the Airflow DAG run whose batch run to undo, as the UI shows
        it (templated)
    :param manual: True for the rollback DAG: undo a finished (DONE) run by hand, from exactly one of
        ``run_id`` and ``dag_run_id``; False (the default) undoes the failed run of this DAG run
    """

    template_fields = ("run_id", "dag_run_id")
    ui_color = "#ffd6d6"

    def __init__(self, *, extract_task_id: str | None = None, run_id: Any = None, dag_run_id: Any = None,
                 manual: bool = False, **kwargs: Any) -> None:
        super().__init__(run_id=run_id, **kwargs)
        self.extract_task_id = extract_task_id
        self.dag_run_id = dag_run_id
        self.manual = manual

    def _run_to_undo(self, context: Any) -> int | None:
        from gaussdb_batch.engine.control import run_of_dag_run

        run_id, dag_run_id = _given(self.run_id), _given(self.dag_run_id)
        if self.manual:
            if (run_id is None) == (dag_run_id is None):
                raise AirflowFailException(
                    f"batch {self.spec.name!r}: give dag_run_id (the DAG run to undo, as shown in the UI) "
                    "or run_id (the control schema's run id), exactly one")
            if dag_run_id is not None:
                return run_of_dag_run(self.batch, self.spec.dag_id, dag_run_id)
            return int(run_id)
        if run_id is None and self.extract_task_id:
            run_id = _given(context["ti"].xcom_pull(task_ids=self.extract_task_id))
        return None if run_id is None else int(run_id)

    @fail_fast
    def execute(self, context: Any) -> dict:
        from gaussdb_batch.engine.compensate import compensate_run

        run_id = self._run_to_undo(context)
        if run_id is None:
            raise AirflowSkipException(f"batch {self.spec.name}: no run was started (extract failed): "
                                       "nothing to compensate")
        reason = "manual rollback" if self.manual else "load or check failed"
        result = compensate_run(self.batch, run_id, reason=reason, manual=self.manual)
        summary = {"run_id": run_id, "chunks": result.chunks, "rows_deleted": result.rows_deleted,
                   "rows_restored": result.rows_restored, "not_owned": result.not_owned}
        if result.not_owned:
            raise AirflowSkipException(f"batch {self.spec.name} run {run_id}: another live DAG run owns this "
                                       "attempt; nothing compensated")
        if result.already_compensated:
            raise AirflowSkipException(f"batch {self.spec.name} run {run_id}: already compensated; nothing to undo")
        _notify_compensation(self.spec, context, run_id, reason)
        if not (result.rows_deleted or result.rows_restored):
            raise AirflowSkipException(f"batch {self.spec.name} run {run_id}: marked compensated; it had changed "
                                       "no target row, so nothing was undone")
        self.log.info("batch=%s run=%s: compensated: %s rows deleted, %s restored", self.spec.name, run_id,
                      result.rows_deleted, result.rows_restored)
        return summary


def _given(value: Any) -> Any:
    """None for a template that rendered to nothing (an unset param or XCom)."""
    return None if value in (None, "", "None") else value


def _notify_compensation(spec: BatchSpec, context: Any, run_id: int, reason: str) -> None:
    from gaussdb_batch.alerting import compensation_notifier

    notify = compensation_notifier(spec.alerting, batch=spec.name)
    notify(f"batch {spec.name}: run {run_id} was compensated ({reason})", context)


class FinalizeOperator(_RunOperator):
    """Mark the run DONE with its totals and purge landing/undo past retention.

    :param spec: the batch's validated spec (``engine.spec.load_spec``); every task of a batch gets the same one
    :param run_id: the control schema's run id to act on (templated; usually ``extract.output``, the run id
        ExtractOperator returns)
    """

    ui_color = "#e0e0e0"

    @fail_fast
    def execute(self, context: Any) -> dict:
        from gaussdb_batch.engine.compensate import finalize_run

        summary = finalize_run(self.batch, int(self.run_id))
        if summary.get("rows_rejected"):
            self.log.warning("batch=%s run=%s: %s rows quarantined in %s.rejects (see them on the Batches page: "
                             "Browse > Batches, run %s)", self.spec.name, self.run_id, summary["rows_rejected"],
                             self.spec.control_schema, self.run_id)
        self._emit_asset_events(context, summary)
        self._result = summary
        return summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from gaussdb_batch.lineage import finalize_lineage

        return finalize_lineage(self.spec, self._result)

    def _emit_asset_events(self, context: Any, summary: dict) -> None:
        """Give the target Asset's event (emitted by Airflow when this task succeeds) the run's facts."""
        if not self.outlets:
            return
        from gaussdb_batch.assets import event_extra
        from gaussdb_batch.engine.control import get_run

        extra = event_extra(self.spec, summary, get_run(self.batch, int(self.run_id)))
        for asset in self.outlets:
            context["outlet_events"][asset].extra = extra
        self.log.info("batch=%s run=%s: asset event extra %s", self.spec.name, self.run_id, extra)
