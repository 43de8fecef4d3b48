"""Adaptive micro-batches: the seed's dynamic period (section 2.4) and an AIMD chunk size.

Period: after each backlog measurement,
``T = max(T_min, T - dT)`` when the backlog is above ``Q_th``, else ``T = min(T_max, T + dT)``.
Chunk size: after each run, additive increase while full chunks finish within the target
duration, multiplicative decrease when they take longer, always within the spec's bounds.

State that survives runs (period, chunk size, watermark, last backlog) is one row of
``<control_schema>.batch_state`` per batch. A run's interval is [watermark, cut-off): the
watermark is the end of the last finished run, so consecutive runs tile the source's
watermark column without gap or overlap.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gaussdb_batch.engine.context import CONTROL_LOCK_KEY, BatchContext, log
from gaussdb_batch.engine.control import (
    chunk_rows_in,
    get_run,
    read_state_in,
    write_state,
    write_state_in,
)
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.spec import AdaptiveSpec
from gaussdb_batch.engine.state import ChunkStatus, RunStatus
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.hooks.dbapi import Connection, one_row

#: Multiplicative decrease of the chunk size when full chunks take longer than the target.
CHUNK_DECREASE = 0.5


# --------------------------------------------------------------------------- control laws
def next_period(period: float, backlog: int, adaptive: AdaptiveSpec) -> float:
    """The seed's rule: shorter by one step above the threshold, else longer, within [t_min, t_max]."""
    if backlog > adaptive.backlog_threshold:
        return max(adaptive.t_min, period - adaptive.step)
    return min(adaptive.t_max, period + adaptive.step)


def period_sequence(backlogs: Iterable[int], adaptive: AdaptiveSpec, start: float | None = None) -> list[float]:
    """The periods that follow each measured backlog, from ``start`` (default: the first period)."""
    period = first_period(adaptive) if start is None else start
    out = []
    for backlog in backlogs:
        period = next_period(period, backlog, adaptive)
        out.append(period)
    return out


def first_period(adaptive: AdaptiveSpec) -> float:
    """A batch without state starts slow (t_max) and speeds up as backlog shows up."""
    return adaptive.t_max


def next_chunk_rows(current: int, chunk_seconds: float | None, *, target_seconds: float,
                    min_rows: int, max_rows: int, step: int) -> int:
    """AIMD toward ``target_seconds`` per chunk: +step while full chunks are fast enough, else halve.

    ``chunk_seconds`` is the mean duration of the last run's full chunks; None (no full chunk:
    a small run says nothing about a full chunk's duration) keeps the size.
    """
    if chunk_seconds is None or not math.isfinite(chunk_seconds):
        new = current
    elif chunk_seconds > target_seconds:
        new = math.floor(current * CHUNK_DECREASE)
    else:
        new = current + step
    return max(min_rows, min(max_rows, new))


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Poll:
    """What the sensor needs before it waits: where the next interval starts and how long to wait."""

    watermark: dt.datetime
    period: float


def poll_start(ctx: BatchContext) -> Poll:
    """The watermark and current period of the batch, from batch_state and the runs table.

    The watermark is the later of the stored one and the end of the newest DONE run, so a
    crash between finalize and the watermark update cannot load an interval twice. A batch
    without state starts at its spec's start_date.
    """
    dialect = ctx.dialect  # detected outside the transaction (transactions never nest)

    def read(conn: Connection) -> Poll:
        with conn.cursor() as cur:
            state = read_state_in(cur, ctx)
            cur.execute(dialect.last_done_interval_end_sql(ctx.schema), {"batch": ctx.spec.name,
                                                                          "done": RunStatus.DONE.value})
            row = cur.fetchone()
        marks = [ctx.spec.start_date]
        if state.watermark:
            marks.append(_as_utc(dt.datetime.fromisoformat(state.watermark)))
        if row and row[0] is not None:
            marks.append(_as_utc(row[0]))
        a = ctx.spec.adaptive_schedule
        period = state.period_seconds if state.period_seconds is not None else first_period(a)
        return Poll(max(marks), min(a.t_max, max(a.t_min, float(period))))

    return ctx.tx(read, purpose="read the watermark and period")


def record_poll(ctx: BatchContext, period: float, backlog: int) -> None:
    """Persist the period the law chose after a measurement, and the backlog it saw."""
    write_state(ctx, period_seconds=float(period), backlog=int(backlog))


def measure_backlog(hook: Any, table: TableRef, column: str, watermark: dt.datetime) -> tuple[int, dt.datetime]:
    """(rows at or past the watermark that are due, the source's now() as the cut-off).

    ``hook`` is the source's GaussDBHook (the trigger has no BatchContext); its dialect is read
    once the transaction's session is open, so the family probe costs no extra connection.
    """

    dialect = hook.dialect  # detected before the transaction (transactions never nest)

    def count(conn: Connection) -> tuple[int, dt.datetime]:
        with conn.cursor() as cur:
            cur.execute(dialect.backlog_sql(table, column), {"watermark": watermark})
            n, now = one_row(cur, "the backlog count")
            return int(n), _as_utc(now)

    return hook.run_in_transaction(count, purpose=f"count the backlog of {table} past {watermark.isoformat()}")


def after_run(ctx: BatchContext, run_id: int) -> dict[str, Any]:
    """Advance the watermark to the run's interval end and adapt the chunk size; one transaction."""
    run = get_run(ctx, run_id)
    if run is None or run.batch != ctx.spec.name:
        raise PermanentBatchError(ctx.spec.name, "no such run of this batch", run_id=run_id)
    if run.status != RunStatus.DONE:
        raise PermanentBatchError(ctx.spec.name, f"the run is {run.status}, not DONE: the watermark stays", run_id=run_id)
    spec = ctx.spec
    end = _as_utc(run.interval_end)

    def advance(conn: Connection) -> dict[str, Any]:
        with conn.cursor() as cur:
            cur.execute(ctx.dialect.advisory_xact_lock_sql(), {"key": CONTROL_LOCK_KEY})
            state = read_state_in(cur, ctx)
            mark = end
            if state.watermark:
                mark = max(mark, _as_utc(dt.datetime.fromisoformat(state.watermark)))
            fields: dict[str, Any] = {"watermark": mark.isoformat()}
            out: dict[str, Any] = {"run_id": run_id, "watermark": mark.isoformat()}
            sizing = spec.chunk_sizing
            if sizing is not None:
                current = chunk_rows_in(cur, ctx)
                cur.execute(ctx.dialect.full_chunk_seconds_sql(ctx.schema), {"run_id": run_id, "rows": current,
                                                                          "done": ChunkStatus.DONE.value})
                full, mean = one_row(cur, "the full chunks' timing")
                seconds = float(mean) if full else None
                new = next_chunk_rows(current, seconds, target_seconds=sizing.target_seconds,
                                      min_rows=sizing.min_rows, max_rows=sizing.max_rows, step=sizing.step)
                fields["chunk_rows"] = new
                out.update(chunk_rows_before=current, chunk_rows=new, full_chunks=int(full or 0),
                           mean_chunk_seconds=None if seconds is None else round(seconds, 4))
            write_state_in(cur, ctx, **fields)
            return out

    out = ctx.tx(advance, purpose=f"advance the watermark after run {run_id}")
    log.info("batch=%s run=%s: adaptive state %s", spec.name, run_id, out)
    return out
