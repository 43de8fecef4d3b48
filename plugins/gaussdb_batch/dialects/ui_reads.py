"""Reads of the Batches page, as Dialect methods: runs, chunks, rejects and reconciliation.

Every read of a run's rows names the batch and the run together (the chunks, rejects and
reconciliation tables have no batch column, so they join the run): with a control schema shared
by several batches, one batch's page can never show another batch's run. Values are bound.
"""

from __future__ import annotations

from gaussdb_batch.identifiers import quote_ident

RUN_COLUMNS = ("run_id", "interval_start", "interval_end", "attempt", "status", "owner_dag_id", "dag_run_id",
               "rows_extracted", "rows_loaded", "rows_rejected", "chunks_total", "started_at", "extracted_at",
               "finished_at", "message")
CHUNK_COLUMNS = ("chunk_no", "status", "rows_in", "rows_written", "rows_rejected", "lane", "loads", "started_at",
                 "finished_at")
REJECT_COLUMNS = ("chunk_no", "seq", "stage", "sqlstate", "message", "rejected_at", "key_text", "row_text")
RECON_COLUMNS = ("chunk_no", "pass", "source_rows", "target_rows", "status", "checked_at")
QUALITY_COLUMNS = ("suite", "success", "evaluated", "failed", "checked_at")


def _cols(alias: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{quote_ident(c)}" for c in columns)


class UIReads:
    """Mixin of ``Dialect``: the Batches page's SELECTs (parameters ``batch`` and ``run_id`` always)."""

    def _of_run(self, schema: str, table: str, alias: str) -> str:
        """``table`` rows of the run ``%(run_id)s`` of the batch ``%(batch)s`` (joined to its run)."""
        s = quote_ident(schema)
        return (f" FROM {s}.{quote_ident(table)} {alias} JOIN {s}.runs r ON r.run_id = {alias}.run_id"
                f" WHERE r.batch = %(batch)s AND {alias}.run_id = %(run_id)s")

    def ui_runs_sql(self, schema: str, *, one: bool = False) -> str:
        """The batch's latest runs, newest first (``%(limit)s``); ``one``: the run ``%(run_id)s`` only."""
        where = " WHERE r.batch = %(batch)s" + (" AND r.run_id = %(run_id)s" if one else "")
        return (f"SELECT {_cols('r', RUN_COLUMNS)} FROM {quote_ident(schema)}.runs r{where}"
                " ORDER BY r.run_id DESC LIMIT %(limit)s")

    def ui_progress_sql(self, schema: str) -> str:
        """Per run of ``%(runs)s`` (of the batch): planned chunks, DONE chunks (``%(done)s``), rows written."""
        s = quote_ident(schema)
        return ("SELECT c.run_id, count(*), sum(CASE WHEN c.status = %(done)s THEN 1 ELSE 0 END),"
                f" coalesce(sum(c.rows_written), 0) FROM {s}.chunks c JOIN {s}.runs r ON r.run_id = c.run_id"
                " WHERE r.batch = %(batch)s AND c.run_id = ANY(%(runs)s) GROUP BY c.run_id")

    def ui_chunks_sql(self, schema: str) -> str:
        return f"SELECT {_cols('c', CHUNK_COLUMNS)}{self._of_run(schema, 'chunks', 'c')} ORDER BY c.chunk_no"

    def ui_rejects_count_sql(self, schema: str) -> str:
        return f"SELECT count(*){self._of_run(schema, 'rejects', 'x')}"

    def ui_rejects_sql(self, schema: str) -> str:
        """One page (``%(limit)s``, ``%(offset)s``) of the run's rejects in (seq, chunk) order."""
        return (f"SELECT {_cols('x', REJECT_COLUMNS)}{self._of_run(schema, 'rejects', 'x')}"
                " ORDER BY x.seq, x.chunk_no, x.rejected_at LIMIT %(limit)s OFFSET %(offset)s")

    def ui_reconciliation_sql(self, schema: str) -> str:
        return f"SELECT {_cols('k', RECON_COLUMNS)}{self._of_run(schema, 'reconciliation', 'k')} ORDER BY k.chunk_no, k.pass"

    def ui_quality_sql(self, schema: str) -> str:
        return f"SELECT {_cols('q', QUALITY_COLUMNS)}{self._of_run(schema, 'quality_results', 'q')} ORDER BY q.checked_at"
