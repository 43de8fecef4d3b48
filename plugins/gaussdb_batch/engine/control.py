"""The control schema: runs, chunks, rejects, reconciliation and undo journals, next to the data.

Also the batch's ``batch_state`` row (adaptive period, chunk size, watermark) and the chunk
size the planner reads from it, so stages read control state without importing each other.

A run is a job instance: (batch, data_interval_start, data_interval_end, attempt). Its statuses
and who may change them live in engine/state.py; this module creates and migrates the schema
and reads runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gaussdb_batch.engine.context import CONTROL_LOCK_KEY, BatchContext, log
from gaussdb_batch.hooks.dbapi import Connection, Cursor

@dataclass(frozen=True)
class Run:
    run_id: int
    batch: str
    interval_start: dt.datetime
    interval_end: dt.datetime
    attempt: int
    status: str
    target_table: str
    mode: str
    rows_extracted: int | None
    rows_loaded: int | None
    rows_rejected: int | None
    chunks_total: int | None
    started_at: dt.datetime | None
    extracted_at: dt.datetime | None
    finished_at: dt.datetime | None
    message: str | None
    #: A repair run: the reconciliation whose differing records it re-syncs (None for an interval's run).
    repair_of: int | None = None


def _scalar(cur: Cursor, sql: str, params: dict | None = None) -> Any:
    cur.execute(sql, params)
    row = cur.fetchone()
    return row[0] if row else None


def ensure_control_schema(ctx: BatchContext) -> None:
    """Create or migrate the control schema and this target's undo journal, once, under a lock."""
    d, schema = ctx.dialect, ctx.schema
    keys = ctx.key_columns  # reads and validates the target's columns before any DDL

    def migrate(conn: Connection) -> None:
        with conn.cursor() as cur:
            cur.execute(d.advisory_xact_lock_sql(), {"key": CONTROL_LOCK_KEY})
            if _scalar(cur, d.schema_exists_sql(), {"schema": schema}) is None:
                cur.execute(d.create_schema_sql(schema))
            cur.execute(d.schema_version_ddl(schema))
            version = _scalar(cur, d.schema_version_sql(schema))
            for number, description, statements in d.control_migrations(schema):
                if number <= version:
                    continue
                for stmt in statements:
                    cur.execute(stmt)
                cur.execute(d.record_schema_version_sql(schema), {"version": number, "description": description})
                log.info("Control schema %s migrated to version %s (%s)", schema, number, description)
            undo = ctx.undo
            if _scalar(cur, d.table_exists_sql(), {"schema": undo.schema, "table": undo.name}) is None:
                cur.execute(d.create_undo_sql(undo, ctx.target))
                cur.execute(d.undo_index_sql(undo, keys))
                log.info("Created undo journal %s for %s", undo, ctx.target)

    ctx.tx(migrate, purpose="create or migrate the control schema")


def get_run(ctx: BatchContext, run_id: int) -> Run | None:
    row = ctx.one(ctx.dialect.get_run_sql(ctx.schema), {"run_id": run_id}, purpose=f"read run {run_id}")
    return Run(*row) if row else None


# --------------------------------------------------------------------------- batch_state
def run_of_dag_run(ctx: BatchContext, dag_id: str, dag_run_id: str) -> int:
    """The batch run an Airflow DAG run owns (the one it finished, for a rollback), by the run id the UI shows."""
    from gaussdb_batch.engine.errors import PermanentBatchError

    d = ctx.dialect
    if ctx.one(d.schema_exists_sql(), {"schema": ctx.schema}, purpose="look for the control schema") is None:
        raise PermanentBatchError(ctx.spec.name, f"no control schema {ctx.schema!r}: the batch never ran")
    rows = ctx.all(d.runs_of_dag_run_sql(ctx.schema),
                   {"batch": ctx.spec.name, "owner_dag_id": dag_id, "dag_run_id": dag_run_id},
                   purpose=f"find the run of DAG run {dag_run_id!r}")
    if not rows:
        raise PermanentBatchError(
            ctx.spec.name, f"DAG run {dag_run_id!r} of {dag_id!r} owns no run in {ctx.schema}.runs (copy the run id "
                           "from the DAG run's details in the UI, e.g. scheduled__2024-01-01T00:00:00+00:00)")
    return int(rows[0][0])


@dataclass(frozen=True)
class BatchState:
    period_seconds: float | None = None
    chunk_rows: int | None = None
    watermark: str | None = None
    backlog: int | None = None
    updated_at: dt.datetime | None = None


def read_state_in(cur: Cursor, ctx: BatchContext) -> BatchState:
    cur.execute(ctx.dialect.read_state_sql(ctx.schema), {"batch": ctx.spec.name})
    row = cur.fetchone()
    return BatchState(*row) if row else BatchState()


def write_state_in(cur: Cursor, ctx: BatchContext, **fields: Any) -> None:
    """Upsert some fields of the batch's state row inside the caller's transaction (takes the lock)."""
    names = list(fields)
    params = {"batch": ctx.spec.name, **fields}
    cur.execute(ctx.dialect.advisory_xact_lock_sql(), {"key": CONTROL_LOCK_KEY})
    cur.execute(ctx.dialect.update_state_sql(ctx.schema, names), params)
    if not cur.rowcount:
        cur.execute(ctx.dialect.insert_state_sql(ctx.schema, names), params)


def read_state(ctx: BatchContext) -> BatchState:
    _ = ctx.dialect  # detected outside the transaction (transactions never nest)

    def read(conn: Connection) -> BatchState:
        with conn.cursor() as cur:
            return read_state_in(cur, ctx)

    return ctx.tx(read, purpose="read the adaptive batch state")


def write_state(ctx: BatchContext, **fields: Any) -> None:
    _ = ctx.dialect  # detected outside the transaction (transactions never nest)

    def write(conn: Connection) -> None:
        with conn.cursor() as cur:
            write_state_in(cur, ctx, **fields)

    ctx.tx(write, purpose=f"save the adaptive batch state ({', '.join(fields)})")


def chunk_rows_in(cur: Cursor, ctx: BatchContext) -> int:
    """The chunk size the planner uses: the adapted one from batch_state, else the spec's."""
    sizing = ctx.spec.chunk_sizing
    if sizing is None:
        return ctx.spec.chunk_rows
    current = read_state_in(cur, ctx).chunk_rows
    if current is None:
        return ctx.spec.chunk_rows
    return max(sizing.min_rows, min(sizing.max_rows, int(current)))
