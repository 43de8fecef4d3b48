"""SQL of the chunks and rejects tables, as Dialect methods: chunk rows, claims, progress, rejects.

A lane claims a chunk with ``FOR UPDATE SKIP LOCKED`` where the server has it
(``caps.skip_locked``), else chunk by chunk under a try-lock (``claim_chunk_by_lock_sql``).
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from gaussdb_batch.dialects.core import DialectCore
from gaussdb_batch.identifiers import quote_ident as _q


class ChunksSQL(DialectCore):
    """Mixin of ``Dialect``: the chunk rows of a run and its rejects."""

    def delete_run_rows_sql(self, schema: str, table: str) -> str:
        return f"DELETE FROM {_q(schema)}.{_q(table)} WHERE run_id = %(run_id)s"

    def insert_chunk_sql(self, schema: str) -> str:
        return (
            f"INSERT INTO {_q(schema)}.chunks (run_id, chunk_no, seq_lo, seq_hi, key_lo, key_hi, status,"
            " rows_in, key_from, key_to) VALUES (%(run_id)s, %(chunk_no)s, %(seq_lo)s, %(seq_hi)s, %(key_lo)s,"
            " %(key_hi)s, %(status)s, %(rows_in)s, %(key_from)s, %(key_to)s)"
        )

    def claim_chunk_sql(self, schema: str) -> str:
        """The next pending chunk, locked by this lane; others skip it (one indexed row lock).

        The server's clock stamps the start, like the finish: chunk timings share one clock.
        """
        return (
            f"SELECT chunk_no, seq_lo, seq_hi, key_lo, key_hi, clock_timestamp() FROM {_q(schema)}.chunks "
            "WHERE run_id = %(run_id)s AND status = %(pending)s "
            "ORDER BY chunk_no LIMIT 1 FOR UPDATE SKIP LOCKED"
        )

    def pending_chunks_sql(self, schema: str) -> str:
        """Pending chunk numbers in order: the candidates of a claim without SKIP LOCKED."""
        return (f"SELECT chunk_no FROM {_q(schema)}.chunks WHERE run_id = %(run_id)s AND status = %(pending)s"
                " ORDER BY chunk_no")

    def claim_chunk_by_lock_sql(self, schema: str) -> str:
        """Claim one given chunk without SKIP LOCKED (openGauss before 3.1.0): one row or none.

        A chunk another lane holds fails ``pg_try_advisory_xact_lock`` (key run_id, chunk_no) and
        is passed over without waiting; one that lane committed meanwhile is re-checked by
        ``FOR UPDATE`` (its status is no longer pending), so two lanes never get one chunk.
        """
        return (
            f"SELECT chunk_no, seq_lo, seq_hi, key_lo, key_hi, clock_timestamp() FROM {_q(schema)}.chunks "
            "WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s AND status = %(pending)s "
            "AND pg_try_advisory_xact_lock(CAST(%(run_id)s AS integer), chunk_no) FOR UPDATE"
        )

    def finish_chunk_sql(self, schema: str) -> str:
        return (
            f"UPDATE {_q(schema)}.chunks SET status = %(status)s, rows_written = %(rows_written)s,"
            " rows_inserted = %(rows_inserted)s, rows_updated = %(rows_updated)s,"
            " rows_rejected = %(rows_rejected)s, lane = %(lane)s, loads = loads + 1,"
            " started_at = %(started_at)s, finished_at = clock_timestamp()"
            " WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s"
        )

    def chunk_progress_sql(self, schema: str) -> str:
        return (
            f"SELECT count(*), sum(CASE WHEN status = %(done)s THEN 1 ELSE 0 END),"
            " coalesce(sum(rows_in), 0) FROM "
            f"{_q(schema)}.chunks WHERE run_id = %(run_id)s"
        )

    def chunk_totals_sql(self, schema: str) -> str:
        return (
            "SELECT count(*), sum(CASE WHEN status <> %(done)s THEN 1 ELSE 0 END),"
            " coalesce(sum(rows_written), 0), coalesce(sum(rows_rejected), 0)"
            f" FROM {_q(schema)}.chunks WHERE run_id = %(run_id)s"
        )

    def list_chunks_sql(self, schema: str) -> str:
        return (
            f"SELECT chunk_no, seq_lo, seq_hi, key_lo, key_hi, status FROM {_q(schema)}.chunks"
            " WHERE run_id = %(run_id)s ORDER BY chunk_no"
        )

    def set_chunk_status_sql(self, schema: str) -> str:
        return (
            f"UPDATE {_q(schema)}.chunks SET status = %(status)s"
            " WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s"
        )

    def chunk_loads_sql(self, schema: str) -> str:
        """How often a chunk was loaded before (0 on its first load)."""
        return f"SELECT loads FROM {_q(schema)}.chunks WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s"

    def run_rejects_count_sql(self, schema: str) -> str:
        return f"SELECT count(*) FROM {_q(schema)}.rejects WHERE run_id = %(run_id)s"

    def insert_reject_sql(self, schema: str) -> str:
        return (
            f"INSERT INTO {_q(schema)}.rejects (run_id, chunk_no, seq, stage, key_text, row_text,"
            " sqlstate, message) VALUES (%(run_id)s, %(chunk_no)s, %(seq)s, %(stage)s, %(key_text)s,"
            " %(row_text)s, %(sqlstate)s, %(message)s)"
        )
