"""The control schema: runs, chunks, rejects, reconciliation and undo journals, next to the data.

A run is a job instance: (batch, data_interval_start, data_interval_end, attempt). Running an
interval again resumes its unfinished attempt, or starts a new attempt once the last one
ended (DONE or COMPENSATED), so every trigger converges to the same target state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gaussdb_batch.engine.context import CONTROL_LOCK_KEY, BatchContext, log

FINISHED = ("DONE", "COMPENSATED")


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


def _scalar(cur: Any, sql: str, params: dict | None = None) -> Any:
    cur.execute(sql, params)
    row = cur.fetchone()
    return row[0] if row else None


def ensure_control_schema(ctx: BatchContext) -> None:
    """Create or migrate the control schema and this target's undo journal, once, under a lock."""
    d, schema = ctx.dialect, ctx.schema
    keys = ctx.key_columns  # reads and validates the target's columns before any DDL

    def migrate(conn: Any) -> None:
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


def begin_run(ctx: BatchContext, start: dt.datetime, end: dt.datetime, dag_run_id: str | None) -> tuple[int, int, bool]:
    """Return (run_id, attempt, resumed) for an interval: resume the unfinished attempt or start one."""
    d, schema, spec = ctx.dialect, ctx.schema, ctx.spec

    def begin(conn: Any) -> tuple[int, int, bool]:
        with conn.cursor() as cur:
            cur.execute(d.advisory_xact_lock_sql(), {"key": CONTROL_LOCK_KEY})
            cur.execute(d.latest_run_sql(schema), {"batch": spec.name, "start": start, "end": end})
            row = cur.fetchone()
            if row is not None and row[2] not in FINISHED:
                run_id, attempt = row[0], row[1]
                cur.execute(
                    d.update_run_sql(schema, ["status", "dag_run_id", "message"]),
                    {"run_id": run_id, "status": "EXTRACTING", "dag_run_id": dag_run_id, "message": None},
                )
                return run_id, attempt, True
            attempt = (row[1] + 1) if row else 1
            cur.execute(
                d.insert_run_sql(schema),
                {
                    "batch": spec.name, "start": start, "end": end, "attempt": attempt,
                    "status": "EXTRACTING", "dag_run_id": dag_run_id, "target": str(ctx.target),
                    "mode": spec.mode,
                },
            )
            return cur.fetchone()[0], attempt, False

    return ctx.tx(begin, purpose=f"begin the run of {start.isoformat()} .. {end.isoformat()}")


def get_run(ctx: BatchContext, run_id: int) -> Run | None:
    d = ctx.dialect

    def read(conn: Any) -> Run | None:
        with conn.cursor() as cur:
            cur.execute(d.get_run_sql(ctx.schema), {"run_id": run_id})
            row = cur.fetchone()
            return Run(*row) if row else None

    return ctx.tx(read, purpose=f"read run {run_id}")


def update_run(ctx: BatchContext, run_id: int, **fields: Any) -> None:
    d = ctx.dialect

    def write(conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute(d.update_run_sql(ctx.schema, list(fields)), {"run_id": run_id, **fields})

    ctx.tx(write, purpose=f"update run {run_id}")


def update_run_in(cur: Any, ctx: BatchContext, run_id: int, **fields: Any) -> None:
    """The same, inside a caller's transaction."""
    cur.execute(ctx.dialect.update_run_sql(ctx.schema, list(fields)), {"run_id": run_id, **fields})
