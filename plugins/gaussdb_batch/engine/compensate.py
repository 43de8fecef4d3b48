"""Compensate and finalize: end a run, either undone exactly or done and tidied.

Compensation replays the undo journal chunk by chunk, one transaction each: delete every
row the chunk inserted or overwrote, then put back the before-images of the overwritten
rows. Each chunk's journal is deleted in the same transaction, so compensating twice is
harmless and a crash mid-way resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gaussdb_batch import metrics
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.control import get_run, update_run
from gaussdb_batch.engine.errors import PermanentBatchError


@dataclass(frozen=True)
class CompensationResult:
    run_id: int
    chunks: int
    rows_deleted: int
    rows_restored: int
    already_compensated: bool = False


def compensate_run(ctx: BatchContext, run_id: int, *, reason: str = "", manual: bool = False) -> CompensationResult:
    """Restore the target to its exact state before the run; idempotent."""
    spec, d = ctx.spec, ctx.prepare().dialect
    run = get_run(ctx, run_id)
    if run is None:
        raise PermanentBatchError(spec.name, f"no run {run_id} in {ctx.schema}.runs", run_id=run_id)
    if run.batch != spec.name:
        raise PermanentBatchError(spec.name, f"run {run_id} belongs to batch {run.batch!r}", run_id=run_id)
    if run.status == "COMPENSATED":
        log.info("batch=%s run=%s: already compensated, nothing to do", spec.name, run_id)
        return CompensationResult(run_id, 0, 0, 0, already_compensated=True)
    if manual:
        if run.status != "DONE":
            raise PermanentBatchError(spec.name, f"only a finished run can be rolled back by hand (status {run.status})", run_id=run_id)
        _refuse_if_later_runs_touched(ctx, run_id)

    def chunks_of(conn: Any) -> list[int]:
        with conn.cursor() as cur:
            cur.execute(d.undo_chunks_sql(ctx.undo), {"run_id": run_id})
            return [r[0] for r in cur.fetchall()]

    deleted = restored = 0
    chunk_nos = ctx.tx(chunks_of, purpose=f"list the undo journal of run {run_id}")
    for no in chunk_nos:

        def undo(conn: Any, no: int = no) -> tuple[int, int]:
            params = {"run_id": run_id, "chunk_no": no}
            with conn.cursor() as cur:
                cur.execute(d.compensate_delete_sql(ctx.target, ctx.undo, ctx.key_columns), params)
                n_del = max(cur.rowcount or 0, 0)
                cur.execute(d.compensate_restore_sql(ctx.target, ctx.undo, ctx.columns), params)
                n_res = max(cur.rowcount or 0, 0)
                cur.execute(d.mark_chunk_undone_sql(ctx.undo), params)
                cur.execute(d.set_chunk_status_sql(ctx.schema), {**params, "status": "COMPENSATED"})
                return n_del, n_res

        n_del, n_res = ctx.tx(undo, purpose=f"compensate chunk {no} of run {run_id}")
        deleted += n_del
        restored += n_res
    update_run(
        ctx, run_id, status="COMPENSATED", finished_at=dt.datetime.now(dt.timezone.utc),
        message=(reason or "compensated")[:2000],
    )
    metrics.compensation(spec.name)
    metrics.run_finished(spec.name, "compensated")
    log.warning(
        "batch=%s run=%s: compensated %s chunks (%s rows removed, %s before-images restored)%s",
        spec.name, run_id, len(chunk_nos), deleted, restored, f": {reason}" if reason else "",
    )
    return CompensationResult(run_id, len(chunk_nos), deleted, restored)


def _refuse_if_later_runs_touched(ctx: BatchContext, run_id: int) -> None:
    d = ctx.dialect

    def later(conn: Any) -> list[int]:
        with conn.cursor() as cur:
            cur.execute(d.later_runs_touching_keys_sql(ctx.schema, ctx.undo, ctx.key_columns), {"run_id": run_id})
            return sorted(r[0] for r in cur.fetchall())

    runs = ctx.tx(later, purpose=f"look for later runs touching the keys of run {run_id}")
    if runs:
        raise PermanentBatchError(
            ctx.spec.name,
            f"cannot roll back: later runs {runs} changed the same keys; roll those back first (newest first)",
            run_id=run_id,
        )


def finalize_run(ctx: BatchContext, run_id: int) -> dict[str, Any]:
    """Mark the run DONE with its totals and purge landing/undo of runs past retention."""
    spec, d = ctx.spec, ctx.prepare().dialect

    def totals(conn: Any) -> tuple[int, int, int, int]:
        with conn.cursor() as cur:
            cur.execute(d.chunk_totals_sql(ctx.schema), {"run_id": run_id})
            chunks, pending, written, _ = cur.fetchone()
            cur.execute(d.run_rejects_count_sql(ctx.schema), {"run_id": run_id})
            rejected = cur.fetchone()[0]
            return int(chunks or 0), int(pending or 0), int(written or 0), int(rejected or 0)

    chunks, pending, written, rejected = ctx.tx(totals, purpose=f"total run {run_id}")
    if pending:
        raise PermanentBatchError(spec.name, f"{pending} chunks are not DONE; cannot finalize", run_id=run_id)
    now = dt.datetime.now(dt.timezone.utc)
    update_run(ctx, run_id, status="DONE", rows_loaded=written, rows_rejected=rejected, finished_at=now, message=None)
    run = get_run(ctx, run_id)
    purged = purge_expired(ctx, now - dt.timedelta(days=spec.retention_days))
    interval = (run.interval_end - run.interval_start).total_seconds() if run else None
    metrics.rows_rejected(spec.name, 0)  # keeps the series alive for the "rejects above zero" rule
    metrics.run_finished(spec.name, "done", interval_seconds=interval)
    seconds = (now - run.started_at).total_seconds() if run and run.started_at else 0.0
    summary = {
        "run_id": run_id, "chunks": chunks, "rows_extracted": run.rows_extracted if run else None,
        "rows_loaded": written, "rows_rejected": rejected, "seconds": round(seconds, 3),
        "rows_per_second": round(written / seconds, 1) if seconds > 0 else None, "purged_runs": purged,
    }
    log.info("batch=%s run=%s: DONE %s", spec.name, run_id, summary)
    return summary


def purge_expired(ctx: BatchContext, before: dt.datetime) -> list[int]:
    """Drop landing tables and undo journals of this batch's runs finished before ``before``."""
    d = ctx.dialect

    def purge(conn: Any) -> list[int]:
        with conn.cursor() as cur:
            cur.execute(d.expired_runs_sql(ctx.schema), {"batch": ctx.spec.name, "before": before})
            runs = [r[0] for r in cur.fetchall()]
            for run_id in runs:
                cur.execute(d.drop_table_sql(ctx.landing(run_id)))
                cur.execute(d.purge_undo_sql(ctx.undo), {"run_id": run_id})
                cur.execute(d.update_run_sql(ctx.schema, ["purged_at"]), {"run_id": run_id, "purged_at": dt.datetime.now(dt.timezone.utc)})
            return runs

    return ctx.tx(purge, purpose="purge landing and undo past retention")
