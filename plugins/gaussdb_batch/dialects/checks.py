"""SQL of the check, as Dialect methods: per-chunk fingerprints, the run's rows, quality checks, results.

Fingerprints are counted and summed per chunk of a group of equal-sized chunks; the landing
side may be stored at plan time (``store_landing_fingerprints_sql``) and read back.
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.core import SEQ, Column
from gaussdb_batch.dialects.row_hash import RowHashSQL
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q


class ChecksSQL(RowHashSQL):
    """Mixin of ``Dialect``: the check's fingerprints and the quality checks of a run's rows."""

    def _chunk_of_seq(self) -> str:
        """Which chunk of a group of consecutive, equal-sized chunks a landed row is in, as the
        offset of that chunk's first seq from the group's (``_per_chunk`` turns it into the number).

        Integer ``mod()`` per row, never ``/`` between integers: on openGauss ``int / int`` is
        float8, which would give every row a group of its own and blind the check; ``div()`` on
        numeric is exact but costs numeric arithmetic per row, so it runs once per group only.
        """
        off = f"(s.{_q(SEQ)} - %(lo)s)"
        return f"{off} - mod({off}, %(size)s)"

    def _per_chunk(self, hashed_rows: str) -> str:
        """Chunk number, count and summed hash per chunk of ``SELECT <chunk offset> AS g, <row hash> AS h ...``.

        ``OFFSET 0`` keeps the rows hashed before they are grouped: the grouping then carries
        two numbers per row, not every column (a sort of whole rows spills to disk).
        """
        return (f"SELECT %(first)s + CAST(div(q.g, %(size)s) AS bigint), count(*), coalesce(sum(q.h), 0)"
                f" FROM ({hashed_rows} OFFSET 0) q GROUP BY q.g")

    def landing_fingerprints_sql(self, schema: str, landing: TableRef, cols: Sequence[Column]) -> str:
        """Per chunk of a group: count and summed row hash of the landed rows, rejects excluded.

        Params: run_id, first (chunk number), lo/hi (the group's seq range), size (chunk rows).
        A read-only SELECT, so the server may run it in parallel (the plan stores its figures).
        """
        return self._per_chunk(
            f"SELECT {self._chunk_of_seq()} AS g, {self.row_hash_expr(cols, 's', from_landing=True)} AS h "
            f"FROM {landing.sql} s WHERE {self._range_pred()} AND {self._not_rejected(schema)}"
        )

    def store_landing_fingerprints_sql(self, schema: str, chunks: int) -> str:
        """At plan time: the landed count and summed hash of ``chunks`` chunks, onto their chunk rows.

        Params: run_id, and c<i>, n<i>, h<i> (chunk number, rows, hash) for i < chunks: the figures of
        landing_fingerprints_sql, computed in the plan's transaction while the landing is hot; the
        check then reads the landing side from the plan instead of scanning the landing again.
        """
        values = ", ".join(f"(%(c{i})s, %(n{i})s, %(h{i})s)" for i in range(chunks))
        return (
            f"UPDATE {_q(schema)}.chunks c SET land_rows = f.n, land_hash = f.h FROM (VALUES {values})"
            " AS f (chunk_no, n, h) WHERE c.run_id = %(run_id)s AND c.chunk_no = f.chunk_no"
        )

    def stored_fingerprints_sql(self, schema: str) -> str:
        """The landing side stored at plan time (NULL when the plan did not store it)."""
        return (f"SELECT chunk_no, land_rows, land_hash FROM {_q(schema)}.chunks WHERE run_id = %(run_id)s"
                " AND chunk_no BETWEEN %(first)s AND %(last)s")

    def rejected_fingerprints_sql(self, schema: str, landing: TableRef, cols: Sequence[Column]) -> str:
        """Count and summed hash per chunk of the landed rows rejected since the plan (driven by the rejects)."""
        return self._per_chunk(
            f"SELECT {self._chunk_of_seq()} AS g, {self.row_hash_expr(cols, 's', from_landing=True)} AS h "
            f"FROM {landing.sql} s WHERE s.{_q(SEQ)} IN (SELECT r.seq FROM {_q(schema)}.rejects r"
            f" WHERE r.run_id = %(run_id)s AND r.seq BETWEEN %(lo)s AND %(hi)s)"
        )

    def target_fingerprints_sql(self, schema: str, target: TableRef, landing: TableRef,
                                cols: Sequence[Column], keys: Sequence[Column], *, rejects: bool = True) -> str:
        """Per chunk of a group: count and summed row hash of the target rows its keys point at.

        ``rejects=False`` for a run without rejects: no probe of the rejects table per landed row."""
        not_rejected = f" AND {self._not_rejected(schema)}" if rejects else ""
        return self._per_chunk(
            f"SELECT {self._chunk_of_seq()} AS g, {self.row_hash_expr(cols, 't', from_landing=False)} AS h "
            f"FROM {landing.sql} s JOIN {target.sql} t ON {self.key_match(keys, 't', 's', cast_right=True)} "
            f"WHERE {self._range_pred()}{not_rejected}"
        )

    def interval_extra_fingerprint_sql(self, target: TableRef, landing: TableRef, cols: Sequence[Column],
                                       keys: Sequence[Column], interval_column: str,
                                       key_set: TableRef | None = None) -> str:
        """delete_insert: count and summed row hash of the interval's target rows whose key the run did
        not land (rows the purge chunk deletes): the whole interval is the run's, so any is a mismatch.
        Params: start, end (the run's interval). A repair run's ``key_set`` bounds it instead of the interval."""
        return (f"SELECT count(*), coalesce(sum({self.row_hash_expr(cols, 't', from_landing=False)}), 0) "
                f"FROM {target.sql} t WHERE {self._vanished(target, landing, keys, interval_column, key_set)}")

    def _run_rows(self, schema: str, target: TableRef, landing: TableRef, keys: Sequence[Column]) -> str:
        """FROM/WHERE of the target rows this run loaded (keys in its landing, rejects excluded)."""
        return (
            f"FROM {target.sql} t WHERE EXISTS (SELECT 1 FROM {landing.sql} s WHERE"
            f" {self._not_rejected(schema)} AND {self.key_match(keys, 't', 's', cast_right=True)})"
        )

    def run_rows_query(self, schema: str, target: TableRef, landing: TableRef, keys: Sequence[Column],
                       run_id: int) -> str:
        """A standalone SELECT of the rows a run loaded, for tools that cannot bind (expectation suites)."""
        rid = int(run_id)
        return f"SELECT t.* {self._run_rows(schema, target, landing, keys)}".replace("%(run_id)s", str(rid))

    def count_run_rows_sql(self, schema: str, target: TableRef, landing: TableRef, keys: Sequence[Column],
                           violation: str) -> str:
        """Rows the run loaded that meet ``violation`` (built by the ``*_violation`` methods)."""
        return f"SELECT count(*) {self._run_rows(schema, target, landing, keys)} AND ({violation})"

    def not_null_violation(self, column: str) -> str:
        return f"t.{_q(column)} IS NULL"

    def range_violation(self, column: str, *, has_min: bool, has_max: bool) -> str:
        parts = []
        if has_min:
            parts.append(f"t.{_q(column)} < %(min)s")
        if has_max:
            parts.append(f"t.{_q(column)} > %(max)s")
        return " OR ".join(parts) or "1 = 0"

    def duplicate_run_keys_sql(self, schema: str, target: TableRef, landing: TableRef,
                               keys: Sequence[Column], columns: Sequence[str]) -> str:
        """How many of the run's rows share ``columns`` with another of its rows."""
        cols = ", ".join(f"t.{_q(c)}" for c in columns)
        return (
            f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n {self._run_rows(schema, target, landing, keys)}"
            f" GROUP BY {cols} HAVING count(*) > 1) d"
        )

    def insert_reconciliation_sql(self, schema: str) -> str:
        return (
            f"INSERT INTO {_q(schema)}.reconciliation (run_id, chunk_no, pass, key_lo, key_hi,"
            " source_rows, target_rows, source_hash, target_hash, status) VALUES (%(run_id)s,"
            " %(chunk_no)s, %(pass)s, %(key_lo)s, %(key_hi)s, %(source_rows)s, %(target_rows)s,"
            " %(source_hash)s, %(target_hash)s, %(status)s)"
        )

    def insert_quality_result_sql(self, schema: str) -> str:
        """One validated expectation suite of a run (``result`` is its JSON summary)."""
        return (
            f"INSERT INTO {_q(schema)}.quality_results (run_id, suite, success, evaluated, failed, result)"
            " VALUES (%(run_id)s, %(suite)s, %(success)s, %(evaluated)s, %(failed)s, %(result)s)"
        )
