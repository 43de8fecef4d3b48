"""SQL of writing a chunk, as Dialect methods: plan settings, savepoints, the undo journal, the writes by mode.

A chunk's statements run in one transaction: journal the before-images (undo), write the
range, and bisect by savepoints on a data error. The upsert is the family's (``upsert_sql``).
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.core import SEQ, UNDO_CHUNK, UNDO_OP, UNDO_RUN, Column, DialectCore, base_type
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q


#: Journal entry kinds: a key the run inserted ('I': key columns only), the before-image of a row it
#: changed or deleted ('U'), and a chunk whose journal is exact ('E': one entry per chunk, key columns
#: NULL): compensation deletes only the keys journaled for it, never its other landed keys (which it
#: found identical and left alone).
OP_INSERTED, OP_UPDATED, OP_EXACT = "I", "U", "E"

#: Base types whose equality is exactness for what the check sees (docs/engine.md, "What the
#: fingerprint sees"): two values that compare equal store the same value. Strings compare under
#: COLLATE "C" (byte by byte); a numeric compares exactly only with a fixed scale (1.5 = 1.50).
#: Every other type (json, interval, time with time zone, arrays, ...) compares its text.
_EXACT_EQUALITY = frozenset({
    "smallint", "integer", "bigint", "real", "double precision", "boolean", "date", "uuid", "bytea",
    "timestamp without time zone", "timestamp with time zone", "time without time zone", "money",
})


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

    def staged_select(self, landing: TableRef, cols: Sequence[Column], where: str = "") -> str:
        """The chunk's landed rows converted to the target's types (``where``: and this predicate on ``s``)."""
        casts = ", ".join(f"{self.cast_expr(c)} AS {c.q}" for c in cols)
        return f"SELECT {casts} FROM {landing.sql} s WHERE {self._range_pred()}{f' AND {where}' if where else ''}"

    def changes_only(self, target: TableRef, cols: Sequence[Column], keys: Sequence[Column]) -> str:
        """A landed row ``s`` that the target does not hold already, identical (its key absent, or a
        column the upsert assigns different): what an upsert with no per-row condition writes."""
        same = self.same_row_expr(self.set_columns(cols, keys), "x", "s", from_landing=True)
        return (f"NOT EXISTS (SELECT 1 FROM {target.sql} x WHERE {self.key_match(keys, 'x', 's', cast_right=True)}"
                f" AND {same})")

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
        """delete_insert and append modes: journal a chunk before it writes, the before-images of every
        target row it will overwrite ('U'), identical or not (upserts: capture_changes_sql).

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

    def set_columns(self, cols: Sequence[Column], keys: Sequence[Column]) -> list[Column]:
        """The columns an upsert assigns (the ones it compares): every column but the keys."""
        key_names = {k.name for k in keys}
        return [c for c in cols if c.name not in key_names]

    def same_row_expr(self, cols: Sequence[Column], stored: str, new: str, *, from_landing: bool) -> str:
        """TRUE when the stored row ``stored`` already holds the values of ``new`` in every column of ``cols``
        (never NULL): the one test of both the change capture and the upsert, so a row is journaled
        exactly when it is rewritten. ``from_landing``: ``new`` is a landing row (cast to the target's
        types), else a row of the target's types (``EXCLUDED``, a staged select).

        The common subset compares column by column (``IS NOT DISTINCT FROM``): strings byte by byte
        (``COLLATE "C"``), types whose equality is exact as they are, the rest (an unconstrained
        numeric, json, intervals, ...) by their text, so 1.0 vs 1.00 and a reformatted json document
        count as changes. The PostgreSQL dialect compares the byte images of the rows instead (``*=``).
        """
        parts = []
        for c in cols:
            v = self.cast_expr(c, new) if from_landing else f"{new}.{c.q}"
            s = f"{stored}.{c.q}"
            base = base_type(c.type_sql)
            if c.is_string:
                parts.append(f"{s} COLLATE \"C\" IS NOT DISTINCT FROM {v}")
            elif base in _EXACT_EQUALITY or (base in ("numeric", "decimal") and "(" in c.type_sql):
                parts.append(f"{s} IS NOT DISTINCT FROM {v}")
            else:
                parts.append(f"CAST({s} AS text) IS NOT DISTINCT FROM CAST({v} AS text)")
        return "(" + " AND ".join(parts) + ")" if parts else "TRUE"

    def _journal_cols(self, cols: Sequence[Column]) -> str:
        return ", ".join([_q(UNDO_RUN), _q(UNDO_CHUNK), _q(UNDO_OP)] + [c.q for c in cols])

    def _rejected_before(self, schema: str) -> str:
        """The landed row ``s`` was rejected by an earlier load of its chunk."""
        return (f"EXISTS (SELECT 1 FROM {_q(schema)}.rejects r WHERE r.run_id = %(run_id)s"
                f" AND r.seq = s.{_q(SEQ)})")

    def capture_changes_sql(self, undo: TableRef, target: TableRef, landing: TableRef, cols: Sequence[Column],
                            keys: Sequence[Column], *, rejected_schema: str | None = None) -> str:
        """upsert mode: journal exactly what the chunk will change, before it writes; RETURNING each entry's op.

        A landed row whose key exists and whose stored row differs (``same_row_expr`` over the
        columns the upsert assigns) journals its before-image ('U'); a key the target lacks journals
        the key ('I'); a row already identical journals nothing (the upsert leaves it alone too).
        The first entry of a key per run wins, so a reload never replaces the true pre-run state.
        ``rejected_schema`` (a reload): only the rows that earlier loads of the chunk rejected.
        ``OFFSET 0`` keeps the journal probe a per-row index lookup (as an anti join the planner
        would scan every entry the run journaled so far for each landed row); it names the joined
        row, so it runs after the join, for the rows that change only.
        """
        k0 = keys[0].q
        key_names = {k.name for k in keys}
        values = ", ".join(f"COALESCE(t.{c.q}, {self.cast_expr(c)})" if c.name in key_names else f"t.{c.q}"
                           for c in cols)
        again = f" AND {self._rejected_before(rejected_schema)}" if rejected_schema is not None else ""
        entry = f"CASE WHEN t.{k0} IS NULL THEN '{OP_INSERTED}' ELSE '{OP_UPDATED}' END, {values}"
        return self._journal_differing(undo, target, landing, cols, keys, entry, again) + f" RETURNING {_q(UNDO_OP)}"

    def capture_identical_before_sql(self, schema: str, undo: TableRef, target: TableRef, landing: TableRef,
                                     cols: Sequence[Column], keys: Sequence[Column]) -> str:
        """Reload of an exact chunk: its unjournaled rows (not rejected before) were identical to their
        landed image when it first loaded, so that image is their pre-run state; journal it ('U') for
        the ones a writer has changed or deleted since (the reload rewrites them)."""
        entry = f"'{OP_UPDATED}', " + ", ".join(self.cast_expr(c) for c in cols)
        return self._journal_differing(undo, target, landing, cols, keys, entry,
                                       f" AND NOT {self._rejected_before(schema)}")

    def _journal_differing(self, undo: TableRef, target: TableRef, landing: TableRef, cols: Sequence[Column],
                           keys: Sequence[Column], entry: str, where: str) -> str:
        """Journal ``entry`` (op, then ``cols``) for each landed row of the range (``where`` too) whose target
        row is absent or differs, and whose key the run has not journaled yet."""
        k0 = keys[0].q
        same = self.same_row_expr(self.set_columns(cols, keys), "t", "s", from_landing=True)
        # The journal probe names the joined row too, so it runs after the join, for the rows that
        # differ only (on the landed row alone the planner would probe once per landed row).
        journaled = " AND ".join(f"u.{k.q} = COALESCE(t.{k.q}, {self.cast_expr(k)})" for k in keys)
        return (
            f"INSERT INTO {undo.sql} ({self._journal_cols(cols)}) SELECT %(run_id)s, %(chunk_no)s, {entry}"
            f" FROM {landing.sql} s LEFT JOIN {target.sql} t ON {self.key_match(keys, 't', 's', cast_right=True)}"
            f" WHERE {self._range_pred()}{where} AND (t.{k0} IS NULL OR NOT {same})"
            f" AND NOT EXISTS (SELECT 1 FROM {undo.sql} u WHERE u.{_q(UNDO_RUN)} = %(run_id)s AND {journaled} OFFSET 0)"
        )

    def journal_inserted_range_sql(self, undo: TableRef, landing: TableRef, keys: Sequence[Column]) -> str:
        """An exact chunk's range written by a plain INSERT (every row of it inserted): its keys ('I')."""
        return (
            f"INSERT INTO {undo.sql} ({self._journal_cols(keys)}) "
            f"SELECT %(run_id)s, %(chunk_no)s, '{OP_INSERTED}', {', '.join(self.cast_expr(k) for k in keys)}"
            f" FROM {landing.sql} s WHERE {self._range_pred()} AND {self._not_journaled(undo, keys, 's', cast_right=True)}"
        )

    def mark_exact_sql(self, undo: TableRef) -> str:
        """The chunk's journal is exact: compensation deletes its journaled keys only."""
        return (f"INSERT INTO {undo.sql} ({_q(UNDO_RUN)}, {_q(UNDO_CHUNK)}, {_q(UNDO_OP)})"
                f" VALUES (%(run_id)s, %(chunk_no)s, '{OP_EXACT}')")

    def _exact_mark(self, undo: TableRef, keys: Sequence[Column], alias: str = "e") -> str:
        """Entries of ``alias`` that mark a chunk exact (key columns NULL: the journal's index finds them)."""
        return f"{alias}.{_q(UNDO_RUN)} = %(run_id)s AND {alias}.{keys[0].q} IS NULL AND {alias}.{_q(UNDO_OP)} = '{OP_EXACT}'"

    def chunk_is_exact_sql(self, undo: TableRef, keys: Sequence[Column]) -> str:
        return f"SELECT count(*) FROM {undo.sql} e WHERE {self._exact_mark(undo, keys)} AND e.{_q(UNDO_CHUNK)} = %(chunk_no)s"

    def forget_exact_marks_sql(self, undo: TableRef, keys: Sequence[Column]) -> str:
        """Re-extract: once every loaded key is journaled (journal_landed_keys_sql) the run's entries are
        all exact; the marks go, so chunks of the new plan that reuse a number start unmarked."""
        return f"DELETE FROM {undo.sql} e WHERE {self._exact_mark(undo, keys)}"

    def journal_landed_keys_sql(self, schema: str, undo: TableRef, landing: TableRef, keys: Sequence[Column]) -> str:
        """Before a landing is replaced: its loaded keys that have no journal entry become 'I' entries.

        Compensation finds the keys a run inserted in its landing; a re-extract drops that landing
        while rows it loaded stay in the target, so their keys move into the journal first. An exact
        chunk journaled its inserted keys already (its unjournaled keys are rows it left alone).
        Params: run_id, compensated (the chunk status that needs no undo).
        """
        knames = ", ".join(k.q for k in keys)
        kvals = ", ".join(self.cast_expr(k) for k in keys)
        return (
            f"INSERT INTO {undo.sql} ({_q(UNDO_RUN)}, {_q(UNDO_CHUNK)}, {_q(UNDO_OP)}, {knames}) "
            f"SELECT %(run_id)s, c.chunk_no, 'I', {kvals} FROM {_q(schema)}.chunks c JOIN {landing.sql} s"
            f" ON s.{_q(SEQ)} BETWEEN c.seq_lo AND c.seq_hi WHERE c.run_id = %(run_id)s AND c.loads > 0"
            f" AND c.status <> %(compensated)s AND {self._not_rejected(schema)}"
            f" AND NOT EXISTS (SELECT 1 FROM {undo.sql} e WHERE {self._exact_mark(undo, keys)}"
            f" AND e.{_q(UNDO_CHUNK)} = c.chunk_no)"
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
