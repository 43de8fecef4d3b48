"""SQL of writing a chunk, as Dialect methods: plan settings, savepoints, the undo journal, the writes by mode.

A chunk's statements run in one transaction: journal the before-images (undo), write the
range, and bisect by savepoints on a data error. The upsert is the family's (``upsert_sql``).
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.core import SEQ, UNDO_CHUNK, UNDO_OP, UNDO_RUN, Column, DialectCore
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q


class WritesSQL(DialectCore):
    """Mixin of ``Dialect``: the statements of one chunk's transaction."""

    def chunk_plan_settings_sql(self, pinned: bool = True) -> str:
        """Pin a chunk transaction's plans to index lookups (``pinned``), or leave the planner free.

        A chunk usually touches a few thousand keys of a table that may hold billions, so every
        join of a chunk statement must be an index probe per landed row. Left to statistics the
        planner picks hash joins or seq-scan nested loops when the target or the undo journal
        was empty at its last ANALYZE and has grown since (every run starts that way), which
        turns each chunk into a scan of the whole table. When the chunk is a large share of the
        target (a first load, a bulk backfill: ``target_size_sql``), set-based plans are cheaper
        and the pins are lifted. ``set_config(.., true)`` is local to the transaction (one
        statement, no SET LOCAL round trips; GaussDB has it too).
        """
        v = "off" if pinned else "on"
        return (
            f"SELECT set_config('enable_hashjoin', '{v}', true), set_config('enable_mergejoin', '{v}', true),"
            f" set_config('enable_seqscan', '{v}', true), set_config('enable_material', '{v}', true)"
        )

    def savepoint_sql(self, name: str) -> str:
        return f"SAVEPOINT {_q(name)}"

    def rollback_to_savepoint_sql(self, name: str) -> str:
        return f"ROLLBACK TO SAVEPOINT {_q(name)}"

    def release_savepoint_sql(self, name: str) -> str:
        return f"RELEASE SAVEPOINT {_q(name)}"

    def _not_journaled(self, undo: TableRef, keys: Sequence[Column], alias: str, *, cast_right: bool) -> str:
        """The run has no journal entry yet for the key of row ``alias`` (``cast_right`` for landed text).

        ``OFFSET 0`` keeps the probe a per-row index lookup instead of an anti join over the
        run's whole journal (see capture_undo_sql).
        """
        return (
            f"NOT EXISTS (SELECT 1 FROM {undo.sql} u WHERE u.{_q(UNDO_RUN)} = %(run_id)s"
            f" AND {self.key_match(keys, 'u', alias, cast_right=cast_right)} OFFSET 0)"
        )

    def staged_select(self, landing: TableRef, cols: Sequence[Column]) -> str:
        """The chunk's landed rows converted to the target's types."""
        casts = ", ".join(f"{self.cast_expr(c)} AS {c.q}" for c in cols)
        return f"SELECT {casts} FROM {landing.sql} s WHERE {self._range_pred()}"

    def create_undo_sql(self, undo: TableRef, target: TableRef) -> str:
        """Undo journal of one target: its columns (no constraints) plus run, chunk and op."""
        return (
            f"CREATE TABLE {undo.sql}{self.storage_clause()}{self.distribution_clause([])}"
            f" AS SELECT CAST(0 AS bigint) AS {_q(UNDO_RUN)},"
            f" 0 AS {_q(UNDO_CHUNK)}, CAST('I' AS char(1)) AS {_q(UNDO_OP)}, t.*"
            f" FROM {target.sql} t WHERE 1 = 0"
        )

    def undo_index_sql(self, undo: TableRef, keys: Sequence[Column]) -> str:
        k = ", ".join([_q(UNDO_RUN)] + [c.q for c in keys])
        return f"CREATE INDEX {_q(undo.name + '_key')} ON {undo.sql} ({k})"

    def capture_undo_sql(self, undo: TableRef, target: TableRef, landing: TableRef,
                         cols: Sequence[Column], keys: Sequence[Column], *, reload_schema: str | None = None) -> str:
        """Journal a chunk before it writes: before-images of the target rows it will overwrite ('U').

        Only rows that exist are journaled: the keys a chunk inserts are its landed rows, and the
        landing lives as long as the journal, so compensation deletes them from there. The first
        image of a key per run wins, so reloading a chunk never replaces the true pre-run state;
        a chunk loaded before (``reload_schema``: the check's repair) journals only the rows its
        earlier loads rejected, as every other key it holds now exists because this run wrote it.
        ``OFFSET 0`` keeps the journal probe a per-row index lookup: as an anti join the planner
        would scan every entry the run journaled so far for each landed row.
        """
        names = ", ".join(c.q for c in cols)
        tcols = ", ".join(f"t.{c.q}" for c in cols)
        again = ""
        if reload_schema is not None:
            again = (f" AND EXISTS (SELECT 1 FROM {_q(reload_schema)}.rejects r WHERE r.run_id = %(run_id)s"
                     f" AND r.seq = s.{_q(SEQ)})")
        return (
            f"INSERT INTO {undo.sql} ({_q(UNDO_RUN)}, {_q(UNDO_CHUNK)}, {_q(UNDO_OP)}, {names}) "
            f"SELECT %(run_id)s, %(chunk_no)s, 'U', {tcols} "
            f"FROM {landing.sql} s JOIN {target.sql} t ON {self.key_match(keys, 't', 's', cast_right=True)} "
            f"WHERE {self._range_pred()}{again} AND {self._not_journaled(undo, keys, 't', cast_right=False)}"
        )

    def journal_landed_keys_sql(self, schema: str, undo: TableRef, landing: TableRef, keys: Sequence[Column]) -> str:
        """Before a landing is replaced: its loaded keys that have no journal entry become 'I' entries.

        Compensation finds the keys a run inserted in its landing; a re-extract drops that landing
        while rows it loaded stay in the target, so their keys move into the journal first.
        Params: run_id, compensated (the chunk status that needs no undo).
        """
        knames = ", ".join(k.q for k in keys)
        kvals = ", ".join(self.cast_expr(k) for k in keys)
        return (
            f"INSERT INTO {undo.sql} ({_q(UNDO_RUN)}, {_q(UNDO_CHUNK)}, {_q(UNDO_OP)}, {knames}) "
            f"SELECT %(run_id)s, c.chunk_no, 'I', {kvals} FROM {_q(schema)}.chunks c JOIN {landing.sql} s"
            f" ON s.{_q(SEQ)} BETWEEN c.seq_lo AND c.seq_hi WHERE c.run_id = %(run_id)s AND c.loads > 0"
            f" AND c.status <> %(compensated)s AND {self._not_rejected(schema)}"
            f" AND {self._not_journaled(undo, keys, 's', cast_right=True)}"
        )

    def upsert_sql(self, target: TableRef, landing: TableRef, cols: Sequence[Column],
                   keys: Sequence[Column]) -> str:
        raise NotImplementedError

    def range_rows_sql(self, landing: TableRef) -> str:
        """Landed rows of seqs [lo, hi]: what an upsert of that range put in place, whether it
        inserted, updated or found a row already identical (which the row count leaves out)."""
        return f"SELECT count(*) FROM {landing.sql} s WHERE {self._range_pred()}"

    def append_sql(self, target: TableRef, landing: TableRef, cols: Sequence[Column]) -> str:
        names = ", ".join(c.q for c in cols)
        return f"INSERT INTO {target.sql} ({names}) {self.staged_select(landing, cols)}"

    def delete_chunk_keys_sql(self, target: TableRef, landing: TableRef, keys: Sequence[Column]) -> str:
        """delete+insert mode: remove the target rows whose keys the chunk brings."""
        return (
            f"DELETE FROM {target.sql} t WHERE EXISTS (SELECT 1 FROM {landing.sql} s"
            f" WHERE {self._range_pred()} AND {self.key_match(keys, 't', 's', cast_right=True)})"
        )

    def capture_purge_sql(self, undo: TableRef, target: TableRef, landing: TableRef, cols: Sequence[Column],
                          keys: Sequence[Column], interval_column: str, key_set: TableRef | None = None) -> str:
        """delete_insert mode: before-images of the interval's rows (a repair: of its keys) that vanished
        at the source."""
        names = ", ".join(c.q for c in cols)
        tcols = ", ".join(f"t.{c.q}" for c in cols)
        return (
            f"INSERT INTO {undo.sql} ({_q(UNDO_RUN)}, {_q(UNDO_CHUNK)}, {_q(UNDO_OP)}, {names}) "
            f"SELECT %(run_id)s, %(chunk_no)s, 'U', {tcols} FROM {target.sql} t "
            f"WHERE {self._vanished(target, landing, keys, interval_column, key_set)} "
            f"AND {self._not_journaled(undo, keys, 't', cast_right=False)}"
        )

    def purge_interval_sql(self, target: TableRef, landing: TableRef, keys: Sequence[Column],
                           interval_column: str, key_set: TableRef | None = None) -> str:
        """delete_insert mode: delete the interval's rows (a repair: of its keys) that vanished at the source."""
        return f"DELETE FROM {target.sql} t WHERE {self._vanished(target, landing, keys, interval_column, key_set)}"

    def write_sql(self, mode: str, target: TableRef, landing: TableRef, cols: Sequence[Column],
                  keys: Sequence[Column]) -> list[str]:
        """The statements that write one chunk range into the target, in order."""
        if mode == "upsert":
            return [self.upsert_sql(target, landing, cols, keys)]
        if mode == "append":
            return [self.append_sql(target, landing, cols)]
        if mode == "delete_insert":
            return [self.delete_chunk_keys_sql(target, landing, keys), self.append_sql(target, landing, cols)]
        raise ValueError(f"unknown load mode {mode!r} (expected upsert, append or delete_insert)")
