"""Rejected rows: the one writer of the rejects table, for every stage (extract, load)."""

from __future__ import annotations

import json
from typing import Any

from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.hooks.dbapi import Cursor


#: SQLSTATE not_null_violation.
NOT_NULL_VIOLATION = "23502"
A_MODE_NOTE = ("; the target runs in sql_compatibility A, where an empty string is stored as NULL, "
               "so '' cannot go into a NOT NULL column")


def reject_reason(message: str, sqlstate: str, *, empty_is_null: bool, values: dict[str, Any] | None) -> str:
    """The reason stored with a reject: the server's message, plus what A mode did when it caused it
    (a NOT NULL violation of a row that holds an empty string, or whose values are unknown)."""
    if sqlstate != NOT_NULL_VIOLATION or not empty_is_null:
        return message
    if values is not None and not any(v == "" for v in values.values()):
        return message
    return message + A_MODE_NOTE


def insert_reject(cur: Cursor, ctx: BatchContext, run_id: int, *, stage: str, seq: int | None, sqlstate: str,
                  message: str, chunk_no: int | None = None, values: dict[str, Any] | None = None,
                  key_text: str | None = None, row_text: str | None = None) -> None:
    """Store one rejected row; ``values`` (column -> value) gives its key and JSON text when known."""
    if values is not None:
        key_text = ctx.key_text(values) if key_text is None else key_text
        row_text = json.dumps(values, ensure_ascii=False, default=str) if row_text is None else row_text
    cur.execute(ctx.dialect.insert_reject_sql(ctx.schema), {
        "run_id": run_id, "chunk_no": chunk_no, "seq": seq, "stage": stage, "key_text": key_text,
        "row_text": row_text, "sqlstate": sqlstate,
        "message": reject_reason(message, sqlstate, empty_is_null=ctx.dialect.empty_is_null, values=values)})


def count_rejects(ctx: BatchContext, run_id: int) -> int:
    """Rejects of every stage of the run."""
    row = ctx.one(ctx.dialect.run_rejects_count_sql(ctx.schema), {"run_id": run_id},
                  purpose=f"count the rejects of run {run_id}")
    return int(row[0] or 0) if row else 0
