"""SQL of adaptive scheduling, as Dialect methods: a batch's ``batch_state`` row and the source backlog.

The same text runs on GaussDB/openGauss and PostgreSQL. There is no ``ON CONFLICT`` on
GaussDB, so a state write is an UPDATE followed by an ``INSERT ... WHERE NOT EXISTS``;
callers hold the control schema's advisory lock so two writers never both insert.
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.identifiers import TableRef, quote_ident

#: Columns of batch_state a caller may write (besides ``batch`` and ``updated_at``).
STATE_FIELDS = ("period_seconds", "chunk_rows", "watermark", "backlog")


def _fields(fields: Sequence[str]) -> list[str]:
    unknown = [f for f in fields if f not in STATE_FIELDS]
    if unknown or not fields:
        raise ValueError(f"batch_state fields must be some of {STATE_FIELDS}, got {list(fields)}")
    return list(fields)


class AdaptiveSQL:
    """Mixin of ``Dialect``: the statements of engine/adaptive.py and the backlog trigger."""

    def read_state_sql(self, schema: str) -> str:
        """The batch's state row; params: batch."""
        return (
            f"SELECT period_seconds, chunk_rows, watermark, backlog, updated_at"
            f" FROM {quote_ident(schema)}.batch_state WHERE batch = %(batch)s"
        )

    def update_state_sql(self, schema: str, fields: Sequence[str]) -> str:
        """Set some fields of an existing state row; params: batch and each field."""
        sets = ", ".join(f"{quote_ident(f)} = %({f})s" for f in _fields(fields))
        return (
            f"UPDATE {quote_ident(schema)}.batch_state SET {sets}, updated_at = now()"
            " WHERE batch = %(batch)s"
        )

    def insert_state_sql(self, schema: str, fields: Sequence[str]) -> str:
        """Create the state row when it does not exist yet (no ON CONFLICT on GaussDB)."""
        names = _fields(fields)
        cols = ", ".join(["batch"] + [quote_ident(f) for f in names])
        values = ", ".join(["%(batch)s"] + [f"%({f})s" for f in names])
        s = quote_ident(schema)
        return (
            f"INSERT INTO {s}.batch_state ({cols}) SELECT {values}"
            f" WHERE NOT EXISTS (SELECT 1 FROM {s}.batch_state WHERE batch = %(batch)s)"
        )

    def last_done_interval_end_sql(self, schema: str) -> str:
        """End of the newest finished (DONE) interval of a batch; params: batch."""
        return (
            f"SELECT max(interval_end) FROM {quote_ident(schema)}.runs"
            " WHERE batch = %(batch)s AND status = %(done)s"
        )

    def full_chunk_seconds_sql(self, schema: str) -> str:
        """How many DONE chunks of a run were full (rows_in >= %(rows)s) and their mean duration."""
        return (
            "SELECT count(*), avg(EXTRACT(EPOCH FROM (finished_at - started_at)))"
            f" FROM {quote_ident(schema)}.chunks WHERE run_id = %(run_id)s AND status = %(done)s"
            " AND rows_in >= %(rows)s AND started_at IS NOT NULL AND finished_at IS NOT NULL"
        )

    def backlog_sql(self, table: TableRef, column: str) -> str:
        """Source rows at or past the watermark that are already due, and the cut-off (the server's now()).

        Intervals are half-open [start, end), so a row whose column equals the watermark has not
        been loaded yet. Rows stamped in the future are not backlog until their time comes.
        Params: watermark.
        """
        c = quote_ident(column, what="watermark column")
        return (
            f"SELECT count(*), now() FROM {table.sql}"
            f" WHERE {c} >= %(watermark)s AND {c} < now()"
        )
