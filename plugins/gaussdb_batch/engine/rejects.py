"""Rejected rows: the one writer of the rejects table, for every stage (extract, load)."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from gaussdb_batch.engine.choices import RejectStage
from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.hooks.dbapi import Cursor


#: SQLSTATE not_null_violation.
NOT_NULL_VIOLATION = "23502"
A_MODE_NOTE = ("; possibly A mode: the target runs in sql_compatibility A, where an empty string is stored as "
               "NULL, so a source value '' cannot go into a NOT NULL column (the landed row shows NULL either way)")
_NOT_NULL_COLUMN = re.compile(r'null value in column "((?:[^"]|"")+)"')


def reject_reason(message: str, sqlstate: str, *, empty_is_null: bool, values: dict[str, Any] | None,
                  string_columns: Collection[str] = ()) -> str:
    """The reason stored with a reject: the server's message, plus what A mode may have done.

    In A mode '' is NULL from the moment it is landed, so the landed row cannot tell a source ''
    from a source NULL: every NOT NULL violation of a string column is labelled "possibly A mode".
    The column comes from the message (``null value in column "c"``; never from the error's column
    field, an internal code on openGauss). When the message names no column, the label is given
    when the row has a NULL or '' string value, or when its values are unknown. A NOT NULL
    violation of a column that is not a string, another mode or another error: the message as is.
    """
    if sqlstate != NOT_NULL_VIOLATION or not empty_is_null:
        return message
    named = _NOT_NULL_COLUMN.search(message)
    strings = set(string_columns)
    if named is not None and strings:
        cause = named.group(1).replace('""', '"') in strings
    elif values is not None:
        cause = any(v is None or v == "" for c, v in values.items() if not strings or c in strings)
    else:
        cause = True
    return message + A_MODE_NOTE if cause else message


def insert_reject(cur: Cursor, ctx: BatchContext, run_id: int, *, stage: RejectStage, seq: int | None, sqlstate: str,
                  message: str, chunk_no: int | None = None, values: dict[str, Any] | None = None,
                  key_text: str | None = None, row_text: str | None = None) -> None:
    """Store one rejected row; ``values`` (column -> value) gives its key and JSON text when known."""
    if values is not None:
        key_text = ctx.key_text(values) if key_text is None else key_text
        row_text = json.dumps(values, ensure_ascii=False, default=str) if row_text is None else row_text
    cur.execute(ctx.dialect.insert_reject_sql(ctx.schema), {
        "run_id": run_id, "chunk_no": chunk_no, "seq": seq, "stage": RejectStage(stage).value, "key_text": key_text,
        "row_text": row_text, "sqlstate": sqlstate,
        "message": reject_reason(message, sqlstate, empty_is_null=ctx.dialect.caps.empty_is_null, values=values,
                                 string_columns=[c.name for c in ctx.columns if c.is_string])})


def count_rejects(ctx: BatchContext, run_id: int) -> int:
    """Rejects of every stage of the run."""
    row = ctx.one(ctx.dialect.run_rejects_count_sql(ctx.schema), {"run_id": run_id},
                  purpose=f"count the rejects of run {run_id}")
    return int(row[0] or 0) if row else 0
