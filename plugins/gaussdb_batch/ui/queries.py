"""Read-only queries of the control schema for the Batches page; every value is bound.

Each function runs the dialect's SELECTs (dialects/ui_reads.py) through the batch's own
connection (a BatchContext, so the hook's session settings and retries apply) and returns plain
dicts. Every read of a run names the batch and the run together, so a run id of another batch
(with a shared control schema) reads as no run at all. Nothing here writes, and no connection
detail ever leaves this module: callers get rows of the control schema only. Statuses are
compared with engine/state.py's enums.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

from gaussdb_batch.dialects.ui_reads import (CHUNK_COLUMNS, QUALITY_COLUMNS, RECON_COLUMNS, REJECT_COLUMNS,
                                             RUN_COLUMNS)
from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.state import ChunkStatus, RunStatus

#: Statuses of an attempt that is still moving: the page polls while a run is in one of them.
LIVE = (RunStatus.EXTRACTING, RunStatus.LOADING, RunStatus.COMPENSATING)
MAX_PAGE = 200
#: The largest reject offset a page may ask for (a run never holds more rejects than this).
MAX_OFFSET = 1_000_000_000
#: The largest run id (the control schema's bigserial).
MAX_RUN_ID = 2**63 - 1
REDACTED = "\u2026"
#: A quoted word of a server message that names an object, not a value (kept for every reader).
_NAMED = re.compile(r"(?:relation|constraint|column|table|index|encoding|schema|type|function|sequence|domain"
                    r"|operator|trigger|view|role|database|collation)\s*$", re.IGNORECASE)
_QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def _rows(ctx: BatchContext, columns: tuple[str, ...], sql: str, params: dict, purpose: str) -> list[dict]:
    return [dict(zip(columns, map(_jsonable, row))) for row in ctx.all(sql, params, purpose=purpose)]


def has_control_schema(ctx: BatchContext) -> bool:
    """False before the batch's first run created its control schema."""
    row = ctx.one(ctx.dialect.table_exists_sql(), {"schema": ctx.schema, "table": "runs"},
                  purpose="look for the control schema")
    return row is not None


def _with_progress(ctx: BatchContext, runs: list[dict]) -> list[dict]:
    if not runs:
        return runs
    params = {"batch": ctx.spec.name, "done": ChunkStatus.DONE.value, "runs": [r["run_id"] for r in runs]}
    counts = {r[0]: r[1:] for r in ctx.all(ctx.dialect.ui_progress_sql(ctx.schema), params,
                                           purpose="count the runs' chunks")}
    for run in runs:
        total, done, written = counts.get(run["run_id"], (0, 0, 0))
        run.update(chunks_planned=int(total), chunks_done=int(done or 0), rows_written_so_far=int(written or 0),
                   live=run["status"] in LIVE, succeeded=run["status"] == RunStatus.DONE)
    return runs


def runs(ctx: BatchContext, *, limit: int = 20, run_id: int | None = None) -> list[dict]:
    """The batch's latest attempts (newest first) with chunk progress, or one run of the batch by id."""
    params: dict[str, Any] = {"batch": ctx.spec.name, "limit": max(1, min(int(limit), MAX_PAGE))}
    if run_id is not None:
        params["run_id"] = int(run_id)
    sql = ctx.dialect.ui_runs_sql(ctx.schema, one=run_id is not None)
    return _with_progress(ctx, _rows(ctx, RUN_COLUMNS, sql, params, "read the batch's runs"))


def run(ctx: BatchContext, run_id: int) -> dict | None:
    """The batch's run ``run_id``, or None when the batch has no such run (none yet, or another batch's)."""
    if not has_control_schema(ctx):
        return None
    found = runs(ctx, run_id=run_id, limit=1)
    return found[0] if found else None


def _of_run(ctx: BatchContext, run_id: int) -> dict[str, Any]:
    return {"batch": ctx.spec.name, "run_id": int(run_id)}


def chunks(ctx: BatchContext, run_id: int) -> list[dict]:
    out = _rows(ctx, CHUNK_COLUMNS, ctx.dialect.ui_chunks_sql(ctx.schema), _of_run(ctx, run_id),
                f"read the chunks of run {run_id}")
    for c in out:
        c["seconds"] = (round((dt.datetime.fromisoformat(c["finished_at"]) -
                               dt.datetime.fromisoformat(c["started_at"])).total_seconds(), 3)
                        if c["started_at"] and c["finished_at"] else None)
        c["done"] = c["status"] == ChunkStatus.DONE
    return out


def _row_values(item: dict) -> list[str]:
    """The texts of a reject's values (its key and each column of its row), longest first."""
    values = [item.get("key_text")]
    try:
        row = json.loads(item.get("row_text") or "null")
    except ValueError:
        row = None
    if isinstance(row, dict):
        values += [v if isinstance(v, str) else json.dumps(v) for v in row.values() if v is not None]
    return sorted({v for v in values if isinstance(v, str) and len(v) >= 3}, key=len, reverse=True)


def redact(message: str | None, values: Sequence[str] = ()) -> str | None:
    """A reason without row values: quoted words that are not object names, and the row's own values."""
    if not message:
        return message

    def quoted(m: re.Match) -> str:
        return m.group(0) if _NAMED.search(message[:m.start()]) else m.group(0)[0] + REDACTED + m.group(0)[0]

    out = _QUOTED.sub(quoted, message)
    for v in values:
        out = out.replace(v, REDACTED)
    return out


def rejects(ctx: BatchContext, run_id: int, *, offset: int = 0, limit: int = 50,
            with_values: bool = False) -> dict[str, Any]:
    """One page of the run's rejects in (seq, chunk) order; keys, row values and values quoted in
    the reason only ``with_values``."""
    limit, offset = max(1, min(int(limit), MAX_PAGE)), max(0, min(int(offset), MAX_OFFSET))
    params = _of_run(ctx, run_id)
    total = ctx.one(ctx.dialect.ui_rejects_count_sql(ctx.schema), params, purpose=f"count the rejects of run {run_id}")
    items = _rows(ctx, REJECT_COLUMNS, ctx.dialect.ui_rejects_sql(ctx.schema), {**params, "limit": limit,
                                                                                "offset": offset},
                  f"read the rejects of run {run_id}")
    if not with_values:
        for item in items:
            item["message"] = redact(item["message"], _row_values(item))
            item["key_text"] = item["row_text"] = None
    return {"total": int(total[0]) if total else 0, "offset": offset, "limit": limit, "items": items,
            "values_shown": with_values}


def reconciliation(ctx: BatchContext, run_id: int) -> dict[str, Any]:
    params = _of_run(ctx, run_id)
    comparisons = _rows(ctx, RECON_COLUMNS, ctx.dialect.ui_reconciliation_sql(ctx.schema), params,
                        f"read the reconciliation of run {run_id}")
    quality = _rows(ctx, QUALITY_COLUMNS, ctx.dialect.ui_quality_sql(ctx.schema), params,
                    f"read the quality results of run {run_id}")
    return {"comparisons": comparisons, "quality": quality}


#: What a viewer sees of a differing record of a scheduled reconciliation: never its key or digests.
RECORD_PUBLIC = ("recon_id", "kind", "checked_at")


def _plain(value: Any) -> Any:
    """A JSON value of an engine row (a key is a mapping of column -> value)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return _jsonable(value)


def latest_reconciliation(ctx: BatchContext, *, offset: int = 0, limit: int = 50,
                          with_values: bool = False) -> dict[str, Any]:
    """The batch's latest scheduled reconciliation (None before the first) and one page of its differing
    records, read through the engine; keys and digests of the records only ``with_values``."""
    from gaussdb_batch.engine.reconciliation import latest_reconciliation as latest_of, reconciliation_records

    limit, offset = max(1, min(int(limit), MAX_PAGE)), max(0, min(int(offset), MAX_OFFSET))
    latest = latest_of(ctx) if has_control_schema(ctx) else None
    page: list[dict] = []
    if latest is not None:
        found = reconciliation_records(ctx, int(latest["recon_id"]), offset=offset, limit=limit + 1)
        page = [{k: _plain(v) for k, v in r.items() if with_values or k in RECORD_PUBLIC} for r in found]
    return {"latest": {k: _plain(v) for k, v in latest.items()} if latest is not None else None,
            "records": {"offset": offset, "limit": limit, "items": page[:limit], "more": len(page) > limit,
                        "values_shown": with_values}}
