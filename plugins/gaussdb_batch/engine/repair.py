"""The reconciliation's repair: re-sync the records one reconciliation found differing, as a run.

A repair is a run of the batch like any other (engine.state: begun, owned, leased, fenced) whose
"interval" is the zero-length [t, t) at the reconciliation's start (``runs.repair_of`` names the
reconciliation): no data interval can be zero-length, so a repair never resumes or blocks a data
interval's run, and a retry of the repair resumes its own attempt. Its extract lands the source rows
of the differing keys only (their keys inlined in the source's statement as a VALUES list: a COPY
from another server cannot join a table of the target), then planning, the load's chunks, the undo
journal, the check and compensation are the engine's own, unchanged:

- ``changed`` and ``missing_in_target`` records are written from the source (upsert, or delete+insert);
- ``extra_in_target`` records (keys the source does not have) are deleted only in delete_insert mode,
  whose purge chunk is bounded by the repair's key set (``land_<run>_keys``) instead of an interval;
  upsert mode leaves them, reported (it never deletes a row the source no longer has);
- the rollback DAG undoes a repair run exactly like any run (by its run_id).

A record that changed again at the source since the reconciliation is written as the source has it
now; a key the source no longer has is a delete candidate whichever kind the reconciliation gave it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from gaussdb_batch.engine import preflight, state
from gaussdb_batch.engine.choices import Match
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.control import ensure_control_schema, get_run
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.extract import ExtractResult
from gaussdb_batch.engine.landing import land
from gaussdb_batch.engine.planning import plan, source_keys_are_unique
from gaussdb_batch.engine.state import RunStatus
from gaussdb_batch.hooks.dbapi import Connection
from gaussdb_batch.hooks.literals import render

#: The reconcile mode that repairs.
REPAIR_MODE = "repair"


def _reconciliation(ctx: BatchContext, recon_id: int) -> tuple[Any, ...]:
    """(status, started_at, repair_run_id) of a finished reconciliation of this batch that found differences."""
    spec = ctx.spec
    row = ctx.one(ctx.dialect.recon_get_sql(ctx.schema), {"recon_id": int(recon_id)},
                  purpose=f"read reconciliation {recon_id}")
    if row is None or row[0] != spec.name:
        raise PermanentBatchError(spec.name, f"there is no reconciliation {recon_id} of batch {spec.name!r} in "
                                             f"{ctx.schema}.reconciliations")
    _batch, status, started_at, finished_at, repair_run = row
    if finished_at is None or status != Match.MISMATCH.value:
        what = "has not finished" if finished_at is None else f"ended {status}"
        raise PermanentBatchError(spec.name, f"reconciliation {recon_id} {what}: only a finished reconciliation "
                                             "that found differing records can be repaired")
    return status, started_at, repair_run


def differing_keys(ctx: BatchContext, recon_id: int, limit: int) -> list[dict[str, Any]]:
    """The distinct keys of a reconciliation's differing records (at most ``limit``), as key -> value."""
    rows = ctx.all(ctx.dialect.recon_diff_keys_sql(ctx.schema), {"recon_id": int(recon_id), "limit": int(limit)},
                   purpose=f"read the differing keys of reconciliation {recon_id}")
    return [json.loads(r[0]) for r in rows]


def _key_params(ctx: BatchContext, key: dict[str, Any], prefix: str) -> dict[str, Any]:
    out = {}
    for i, k in enumerate(ctx.key_columns):
        if k.name not in key:
            raise PermanentBatchError(ctx.spec.name, f"a differing record's key {key} has no {k.name!r}: the "
                                                     "batch's keys changed since the reconciliation ran")
        value = key[k.name]
        out[f"{prefix}{i}"] = value if value is None or isinstance(value, (int, str)) else json.dumps(value)
    return out


def _key_set_params(ctx: BatchContext, keys: list[dict[str, Any]]) -> dict[str, Any]:
    """The values of the key set's placeholders ``rk_<row>_<key>`` (its insert and the source's filter)."""
    params: dict[str, Any] = {}
    for r, key in enumerate(keys):
        params.update(_key_params(ctx, key, f"rk_{r}_"))
    return params


def _store_key_set(ctx: BatchContext, run_id: int, keys: list[dict[str, Any]], params: dict[str, Any]) -> None:
    """The repair's key set next to its landing, one statement, written while this DAG run owns the attempt."""
    d, table = ctx.dialect, ctx.key_set(run_id)
    insert = d.repair_keys_insert_sql(table, ctx.key_columns, len(keys))

    def write(conn: Connection) -> None:
        with conn.cursor() as cur:
            state.fence(cur, ctx, run_id, RunStatus.EXTRACTING)
            cur.execute(d.drop_table_sql(table))
            cur.execute(d.repair_keys_ddl(table, ctx.key_columns))
            cur.execute(insert, params)

    ctx.tx(write, purpose=f"store the {len(keys)} differing keys of repair run {run_id}")


def source_filter(ctx: BatchContext, rows: int, params: dict[str, Any]) -> str:
    """The source rows of the key set (``rows`` keys, ``_key_set_params``), as a predicate with its values
    inlined (``%`` doubled, as the landing's statements still take the interval's placeholders)."""
    types = ctx.source_column_types
    cast = [k.name for k in ctx.key_columns if types.get(k.name) != k.type_sql]
    return render(ctx.dialect.repair_source_filter(ctx.key_columns, cast, rows), params).replace("%", "%%")


def extract_repair(ctx: BatchContext, recon_id: int) -> ExtractResult:
    """Land the source rows of reconciliation ``recon_id``'s differing keys and plan their chunks.

    Returns the repair run (load, check, finalize and compensate it like any run). A retry resumes
    the same attempt; a reconciliation already repaired by a finished run is repaired again by a new
    attempt (the target then already matches the source: the run rewrites what still differs).
    """
    spec = ctx.spec
    rec = spec.reconcile
    if rec is None or rec.mode != REPAIR_MODE:
        raise PermanentBatchError(spec.name, "repair needs reconcile.mode: repair in the batch's spec")
    t0 = time.monotonic()
    ctx.prepare()
    preflight.require_key_index(ctx)
    ensure_control_schema(ctx)
    _status, at, _earlier = _reconciliation(ctx, recon_id)
    keys = differing_keys(ctx, recon_id, rec.max_repair_rows + 1)
    if not keys:
        raise PermanentBatchError(spec.name, f"reconciliation {recon_id} has no differing records left in "
                                             f"{ctx.schema}.reconciliation_diffs (purged past retention_days?): "
                                             "run the reconciliation again")
    if len(keys) > rec.max_repair_rows:
        raise PermanentBatchError(spec.name, f"reconciliation {recon_id} found more than reconcile.max_repair_rows="
                                             f"{rec.max_repair_rows} differing keys: that is a reload, not a repair "
                                             f"(run the batch's intervals again, or raise max_repair_rows)")
    begun = state.begin(ctx, at, at, repair_of=int(recon_id))
    run_id = begun.run_id
    if begun.planned:
        run = get_run(ctx, run_id)
        if run is None:
            raise PermanentBatchError(spec.name, f"repair run {run_id} is planned but its row is gone", run_id=run_id)
        log.info("batch=%s run=%s: resuming the repair of reconciliation %s (attempt %s): loading the chunks not "
                 "yet DONE", spec.name, run_id, recon_id, begun.attempt)
        rows = int(run.rows_extracted or 0) - int(run.rows_rejected or 0)
        return ExtractResult(run_id, begun.attempt, True, rows, int(run.rows_rejected or 0),
                             int(run.chunks_total or 0), time.monotonic() - t0)
    log.info("batch=%s run=%s: repairing %s differing keys of reconciliation %s (attempt %s%s)", spec.name, run_id,
             len(keys), recon_id, begun.attempt, ", resumed" if begun.resumed else "")
    try:
        unique = ctx.source_keys_unique = source_keys_are_unique(ctx)
        params = _key_set_params(ctx, keys)
        _store_key_set(ctx, run_id, keys, params)
        land(ctx, run_id, at, at, keys_where=source_filter(ctx, len(keys), params))
        rows, rejected, chunks, _size = plan(ctx, run_id, [], unique)
        ctx.run(ctx.dialect.recon_set_repair_sql(ctx.schema), {"recon_id": int(recon_id), "run_id": run_id},
                purpose=f"name repair run {run_id} on reconciliation {recon_id}")
    except BaseException as exc:
        if not isinstance(exc, state.NotOwnedError):
            state.fail(ctx, run_id, f"repair extract failed: {exc}"[:2000])
        raise
    seconds = time.monotonic() - t0
    log.info("batch=%s run=%s: landed %s source rows of %s differing keys (%s rejected) in %.1fs, %s chunks",
             spec.name, run_id, rows, len(keys), rejected, seconds, chunks)
    return ExtractResult(run_id, begun.attempt, begun.resumed, rows, rejected, chunks, seconds)


__all__ = ["REPAIR_MODE", "differing_keys", "extract_repair", "source_filter"]
