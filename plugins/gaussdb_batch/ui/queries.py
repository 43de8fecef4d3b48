"""Read-only queries of the control schema for the Batches page; every value is bound.

Each function runs one SELECT through the batch's own connection (a BatchContext, so the
hook's session settings and retries apply) and returns plain dicts. Nothing here writes, and
no connection detail ever leaves this module: callers get rows of the control schema only.
Statuses are compared with engine/state.py's enums.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.state import ChunkStatus, RunStatus
from gaussdb_batch.identifiers import quote_ident

#: Statuses of an attempt that is still moving: the page polls while a run is in one of them.
LIVE = (RunStatus.EXTRACTING, RunStatus.LOADING, RunStatus.COMPENSATING)
RUN_COLUMNS = ("run_id", "interval_start", "interval_end", "attempt", "status", "owner_dag_id", "dag_run_id",
               "rows_extracted", "rows_loaded", "rows_rejected", "chunks_total", "started_at", "extracted_at",
               "finished_at", "message")
CHUNK_COLUMNS = ("chunk_no", "status", "rows_in", "rows_written", "rows_rejected", "lane", "loads", "started_at",
                 "finished_at")
REJECT_COLUMNS = ("chunk_no", "seq", "stage", "sqlstate", "message", "rejected_at", "key_text", "row_text")
RECON_COLUMNS = ("chunk_no", "pass", "source_rows", "target_rows", "status", "checked_at")
QUALITY_COLUMNS = ("suite", "success", "evaluated", "failed", "checked_at")
MAX_PAGE = 200


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def _rows(ctx: BatchContext, columns: tuple[str, ...], sql: str, params: dict, purpose: str) -> list[dict]:
    return [dict(zip(columns, map(_jsonable, row))) for row in ctx.all(sql, params, purpose=purpose)]


def _select(ctx: BatchContext, columns: tuple[str, ...], table: str) -> str:
    return f"SELECT {', '.join(columns)} FROM {quote_ident(ctx.schema)}.{quote_ident(table)}"


def has_control_schema(ctx: BatchContext) -> bool:
    """False before the batch's first run created its control schema."""
    row = ctx.one(ctx.dialect.table_exists_sql(), {"schema": ctx.schema, "table": "runs"},
                  purpose="look for the control schema")
    return row is not None


def _with_progress(ctx: BatchContext, runs: list[dict]) -> list[dict]:
    if not runs:
        return runs
    sql = (f"SELECT run_id, count(*), sum(CASE WHEN status = %(done)s THEN 1 ELSE 0 END),"
           f" coalesce(sum(rows_written), 0) FROM {quote_ident(ctx.schema)}.chunks"
           " WHERE run_id = ANY(%(runs)s) GROUP BY run_id")
    counts = {r[0]: r[1:] for r in ctx.all(sql, {"done": ChunkStatus.DONE.value, "runs": [r["run_id"] for r in runs]},
                                           purpose="count the runs' chunks")}
    for run in runs:
        total, done, written = counts.get(run["run_id"], (0, 0, 0))
        run.update(chunks_planned=int(total), chunks_done=int(done or 0), rows_written_so_far=int(written or 0),
                   live=run["status"] in LIVE, succeeded=run["status"] == RunStatus.DONE)
    return runs


def runs(ctx: BatchContext, *, limit: int = 20, run_id: int | None = None) -> list[dict]:
    """The batch's latest attempts (newest first) with chunk progress, or one run by id."""
    where, params = "WHERE batch = %(batch)s", {"batch": ctx.spec.name, "limit": min(int(limit), MAX_PAGE)}
    if run_id is not None:
        where += " AND run_id = %(run_id)s"
        params["run_id"] = int(run_id)
    sql = f"{_select(ctx, RUN_COLUMNS, 'runs')} {where} ORDER BY run_id DESC LIMIT %(limit)s"
    return _with_progress(ctx, _rows(ctx, RUN_COLUMNS, sql, params, "read the batch's runs"))


def chunks(ctx: BatchContext, run_id: int) -> list[dict]:
    sql = f"{_select(ctx, CHUNK_COLUMNS, 'chunks')} WHERE run_id = %(run_id)s ORDER BY chunk_no"
    out = _rows(ctx, CHUNK_COLUMNS, sql, {"run_id": int(run_id)}, f"read the chunks of run {run_id}")
    for c in out:
        c["seconds"] = (round((dt.datetime.fromisoformat(c["finished_at"]) -
                               dt.datetime.fromisoformat(c["started_at"])).total_seconds(), 3)
                        if c["started_at"] and c["finished_at"] else None)
        c["done"] = c["status"] == ChunkStatus.DONE
    return out


def rejects(ctx: BatchContext, run_id: int, *, offset: int = 0, limit: int = 50,
            with_values: bool = False) -> dict[str, Any]:
    """One page of the run's rejects in (seq, chunk) order; keys and row values only ``with_values``."""
    limit, offset = max(1, min(int(limit), MAX_PAGE)), max(0, int(offset))
    table = f"{quote_ident(ctx.schema)}.rejects"
    total = ctx.one(f"SELECT count(*) FROM {table} WHERE run_id = %(run_id)s", {"run_id": int(run_id)},
                    purpose=f"count the rejects of run {run_id}")
    sql = (f"{_select(ctx, REJECT_COLUMNS, 'rejects')} WHERE run_id = %(run_id)s"
           " ORDER BY seq, chunk_no, rejected_at LIMIT %(limit)s OFFSET %(offset)s")
    items = _rows(ctx, REJECT_COLUMNS, sql, {"run_id": int(run_id), "limit": limit, "offset": offset},
                  f"read the rejects of run {run_id}")
    if not with_values:
        for item in items:
            item["key_text"] = item["row_text"] = None
    return {"total": int(total[0]) if total else 0, "offset": offset, "limit": limit, "items": items,
            "values_shown": with_values}


def reconciliation(ctx: BatchContext, run_id: int) -> dict[str, Any]:
    sql = f"{_select(ctx, RECON_COLUMNS, 'reconciliation')} WHERE run_id = %(run_id)s ORDER BY chunk_no, pass"
    comparisons = _rows(ctx, RECON_COLUMNS, sql, {"run_id": int(run_id)}, f"read the reconciliation of run {run_id}")
    qsql = f"{_select(ctx, QUALITY_COLUMNS, 'quality_results')} WHERE run_id = %(run_id)s ORDER BY checked_at"
    quality = _rows(ctx, QUALITY_COLUMNS, qsql, {"run_id": int(run_id)}, f"read the quality results of run {run_id}")
    return {"comparisons": comparisons, "quality": quality}
