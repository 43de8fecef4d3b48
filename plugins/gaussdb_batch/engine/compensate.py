"""Compensate and finalize: end a run, either undone exactly or done and tidied.

Compensation undoes the run chunk by chunk, one transaction each: delete every row the
chunk changed or inserted (its journal's keys) and, for a chunk whose journal is not exact,
every row it wrote (its landed keys, rejected rows excluded), then put back the before-images
of the changed rows. An upsert that went through the change capture journals exactly: the
keys it inserted ('I'), the rows it changed ('U'), nothing for the rows it left identical,
and marks the chunk exact ('E'). A chunk written by plain INSERTs alone, and the
delete_insert and append modes, journal only rows that existed: their inserted keys are read
from the landing, which lives as long as the journal.
Each chunk is marked COMPENSATED and its journal deleted in the same transaction, so
compensating twice is harmless and a crash mid-way resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gaussdb_batch import metrics
from gaussdb_batch.engine import state
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.control import get_run
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.spec import MAX_RETENTION_DAYS
from gaussdb_batch.engine.state import FINISHED, ChunkStatus, RunStatus
from gaussdb_batch.hooks.dbapi import Connection


@dataclass(frozen=True)
class CompensationResult:
    run_id: int
    chunks: int
    rows_deleted: int
    rows_restored: int
    already_compensated: bool = False
    #: Another live DAG run owns the attempt: this one left it alone.
    not_owned: bool = False


def compensate_run(ctx: BatchContext, run_id: int, *, reason: str = "", manual: bool = False) -> CompensationResult:
    """Restore the target to its exact state before the run; idempotent, fenced by ownership."""
    spec, d = ctx.spec, ctx.prepare().dialect
    run = get_run(ctx, run_id)
    if run is None:
        raise PermanentBatchError(spec.name, f"no run {run_id} in {ctx.schema}.runs", run_id=run_id)
    if run.batch != spec.name:
        raise PermanentBatchError(spec.name, f"run {run_id} belongs to batch {run.batch!r}", run_id=run_id)
    if run.status == RunStatus.COMPENSATED:
        log.info("batch=%s run=%s: already compensated, nothing to do", spec.name, run_id)
        return CompensationResult(run_id, 0, 0, 0, already_compensated=True)
    if manual:
        if run.status != RunStatus.DONE:
            raise PermanentBatchError(spec.name, f"only a finished run can be rolled back by hand (status {run.status})", run_id=run_id)
        _refuse_if_later_runs_touched(ctx, run_id)
    if not state.compensating(ctx, run_id, manual=manual):
        return CompensationResult(run_id, 0, 0, 0, not_owned=True)

    journaled = {r[0]: bool(r[1]) for r in ctx.all(d.undo_chunks_sql(ctx.undo), {"run_id": run_id},
                                                   purpose=f"list the undo journal of run {run_id}")}
    has_landing = ctx.landing_layout(run_id) is not None
    landed: dict[int, tuple[int, int]] = {}
    if has_landing:
        landed = {r[0]: (r[1], r[2]) for r in ctx.all(
            d.loaded_chunks_sql(ctx.schema), {"run_id": run_id, "compensated": ChunkStatus.COMPENSATED.value},
            purpose=f"list the loaded chunks of run {run_id}")}
    ld = ctx.landing_dialect(run_id)
    chunk_nos = sorted(set(journaled) | set(landed))
    deleted = restored = 0
    for no in chunk_nos:

        def undo(conn: Connection, no: int = no) -> tuple[int, int]:
            lo, hi = landed.get(no, (1, 0))
            params = {"run_id": run_id, "chunk_no": no, "lo": lo, "hi": hi}
            with conn.cursor() as cur:
                state.compensate_chunk(cur, ctx, run_id, no)
                cur.execute(d.compensate_delete_sql(ctx.target, ctx.undo, ctx.key_columns), params)
                n_del = max(cur.rowcount or 0, 0)
                if no in landed and not journaled.get(no, False):  # an exact journal names every key it wrote
                    cur.execute(ld.compensate_delete_landed_sql(ctx.schema, ctx.target, ctx.landing(run_id),
                                                                ctx.key_columns), params)
                    n_del += max(cur.rowcount or 0, 0)
                cur.execute(d.compensate_restore_sql(ctx.target, ctx.undo, ctx.columns), params)
                n_res = max(cur.rowcount or 0, 0)
                cur.execute(d.mark_chunk_undone_sql(ctx.undo), params)
                return n_del, n_res

        n_del, n_res = ctx.tx(undo, purpose=f"compensate chunk {no} of run {run_id}")
        deleted += n_del
        restored += n_res
    state.compensated(ctx, run_id, reason)
    metrics.compensation(spec.name)
    metrics.run_finished(spec.name, RunStatus.COMPENSATED)
    log.warning(
        "batch=%s run=%s: compensated %s chunks (%s rows removed, %s before-images restored)%s",
        spec.name, run_id, len(chunk_nos), deleted, restored, f": {reason}" if reason else "",
    )
    return CompensationResult(run_id, len(chunk_nos), deleted, restored)


def _refuse_if_later_runs_touched(ctx: BatchContext, run_id: int) -> None:
    d = ctx.landing_dialect(run_id)
    landing = ctx.landing(run_id) if ctx.landing_layout(run_id) is not None else None
    rows = ctx.all(d.later_runs_touching_keys_sql(ctx.schema, ctx.undo, ctx.key_columns, landing),
                   {"run_id": run_id, "compensated": RunStatus.COMPENSATED.value},
                   purpose=f"look for later runs touching the keys of run {run_id}")
    runs = sorted(r[0] for r in rows)
    if runs:
        raise PermanentBatchError(
            ctx.spec.name,
            f"cannot roll back: later runs {runs} changed the same keys; roll those back first (newest first)",
            run_id=run_id,
        )


def finalize_run(ctx: BatchContext, run_id: int) -> dict[str, Any]:
    """Mark the run DONE with its totals (one fenced transaction), then purge runs past retention.

    The purge is tidying: once the run is DONE nothing after it can leave it LOADING, and a
    failed purge is logged and retried by the next finalize.
    """
    spec = ctx.spec
    ctx.prepare()
    chunks, written, rejected = state.finish_run(ctx, run_id)
    now = dt.datetime.now(dt.timezone.utc)
    run = get_run(ctx, run_id)
    try:
        days = min(int(spec.retention_days), MAX_RETENTION_DAYS)
        purged = purge_expired(ctx, now - dt.timedelta(days=days))
    except Exception as exc:  # noqa: BLE001 - the run is DONE; tidying must not undo that
        log.warning("batch=%s run=%s: purge of expired landing/undo failed (next finalize retries): %s",
                    spec.name, run_id, exc)
        purged = []
    interval = (run.interval_end - run.interval_start).total_seconds() if run else None
    metrics.rows_rejected(spec.name, 0)  # keeps the series alive for the "rejects above zero" rule
    metrics.run_finished(spec.name, RunStatus.DONE, interval_seconds=interval)
    seconds = (now - run.started_at).total_seconds() if run and run.started_at else 0.0
    summary = {
        "run_id": run_id, "chunks": chunks, "rows_extracted": run.rows_extracted if run else None,
        "rows_loaded": written, "rows_rejected": rejected, "seconds": round(seconds, 3),
        "rows_per_second": round(written / seconds, 1) if seconds > 0 else None, "purged_runs": purged,
    }
    log.info("batch=%s run=%s: DONE %s", spec.name, run_id, summary)
    return summary


def purge_expired(ctx: BatchContext, before: dt.datetime) -> list[int]:
    """Drop landing tables and undo journals of this batch's runs finished before ``before``, and its
    reconciliations (with their differing records) started before it."""
    d = ctx.dialect

    def purge(conn: Connection) -> list[int]:
        with conn.cursor() as cur:
            cur.execute(d.expired_runs_sql(ctx.schema), {"batch": ctx.spec.name, "before": before,
                                                         "finished": [s.value for s in FINISHED]})
            runs = [r[0] for r in cur.fetchall()]
            for run_id in runs:
                cur.execute(d.drop_table_sql(ctx.landing(run_id)))
                cur.execute(d.drop_table_sql(ctx.key_set(run_id)))  # a repair run's; none for others
                cur.execute(d.purge_undo_sql(ctx.undo), {"run_id": run_id})
                cur.execute(d.update_run_sql(ctx.schema, ["purged_at"]), {"run_id": run_id, "purged_at": dt.datetime.now(dt.timezone.utc)})
            for sql in d.recon_purge_sql(ctx.schema):  # the scheduled reconciliation's results too
                cur.execute(sql, {"batch": ctx.spec.name, "before": before})
            return runs

    return ctx.tx(purge, purpose="purge landing and undo past retention")
