"""Extract: the stage that lands one data interval in the target database, once, then plans its chunks.

The attempt is begun (or resumed, or taken over after its owner died) through engine.state;
an attempt whose plan is complete is resumed as it is (chunks already DONE stay done), one
that failed or died while extracting is extracted again: its landing and plan are replaced,
and rows already loaded keep their first before-image in the undo journal, so compensation
still restores the pre-run state exactly. The pre-flight's key-index check runs first (the
operator runs the whole pre-flight before extract). Landing (engine.landing, with engine.files for file
sources) and planning (engine.planning) write only while this DAG run owns the attempt. An
extract that fails marks the attempt FAILED (resumable), never EXTRACTING.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from gaussdb_batch import metrics
from gaussdb_batch.engine import preflight, state
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.direct import direct_reason, plan_direct
from gaussdb_batch.engine.control import ensure_control_schema, get_run
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.landing import binary_copy as _binary_copy  # noqa: F401  (tests import it from here)
from gaussdb_batch.engine.landing import land
from gaussdb_batch.engine.planning import plan, source_keys_are_unique
from gaussdb_batch.engine.rejects import count_rejects


@dataclass(frozen=True)
class ExtractResult:
    run_id: int
    attempt: int
    resumed: bool
    rows: int
    rejected: int
    chunks: int
    seconds: float


def extract(ctx: BatchContext, start: dt.datetime, end: dt.datetime) -> ExtractResult:
    """Land [start, end) of the source and persist the chunk plan; return the run."""
    spec = ctx.spec
    if end <= start:
        raise PermanentBatchError(spec.name, f"empty data interval {start.isoformat()} .. {end.isoformat()}")
    t0 = time.monotonic()
    ctx.prepare()
    preflight.require_key_index(ctx)
    ensure_control_schema(ctx)
    begun = state.begin(ctx, start, end)
    run_id = begun.run_id
    if begun.planned:
        run = get_run(ctx, run_id)
        if run is None:
            raise PermanentBatchError(spec.name, f"run {run_id} is planned but its row is gone from {ctx.schema}.runs",
                                      run_id=run_id)
        log.info("batch=%s run=%s: resuming attempt %s as %s: its landing and plan are complete, loading the "
                 "chunks not yet DONE", spec.name, run_id, begun.attempt, ctx.owner)
        rows = int(run.rows_extracted or 0) - int(run.rows_rejected or 0)
        return ExtractResult(run_id, begun.attempt, True, rows, int(run.rows_rejected or 0),
                             int(run.chunks_total or 0), time.monotonic() - t0)
    log.info(
        "batch=%s run=%s: extracting %s .. %s (attempt %s%s) into %s",
        spec.name, run_id, start.isoformat(), end.isoformat(), begun.attempt, ", resumed" if begun.resumed else "",
        ctx.landing(run_id),
    )
    try:
        unique = ctx.source_keys_unique = source_keys_are_unique(ctx)
        why_not = direct_reason(ctx)
        if why_not is None:
            rows, chunks, chunk_rows = plan_direct(ctx, run_id, start, end)
            rejected = 0
        else:
            log.info("batch=%s run=%s: landing the interval first (%s)", spec.name, run_id, why_not)
            file_rejects = land(ctx, run_id, start, end)
            rows, rejected, chunks, chunk_rows = plan(ctx, run_id, file_rejects, unique)
    except BaseException as exc:
        if not isinstance(exc, state.NotOwnedError):
            state.fail(ctx, run_id, f"extract failed: {exc}"[:2000])
        raise
    seconds = time.monotonic() - t0
    metrics.rows_extracted(spec.name, rows)
    # How far behind its schedule the batch is: the age of the interval's end at extract time.
    metrics.lag_seconds(spec.name, max((dt.datetime.now(dt.timezone.utc) - end).total_seconds(), 0.0))
    log.info(
        "batch=%s run=%s: extracted %s rows (%s rejected) in %.1fs, planned %s chunks of up to %s rows",
        spec.name, run_id, rows, rejected, seconds, chunks, chunk_rows,
    )
    total_rejects = count_rejects(ctx, run_id)
    if total_rejects > spec.max_rejects:
        message = (f"{total_rejects} rows rejected at extract exceed max_rejects={spec.max_rejects}; "
                   f"see {ctx.schema}.rejects")
        state.fail(ctx, run_id, message)
        raise PermanentBatchError(spec.name, message, run_id=run_id)
    return ExtractResult(run_id, begun.attempt, begun.resumed, rows, rejected, chunks, seconds)
