"""SQL of compensation, as Dialect methods: undo a run chunk by chunk from its journal.

Compensating deletes what a chunk wrote and puts back the before-images it journaled, then
forgets that chunk's journal so compensating again is a no-op. What a chunk wrote is its
journaled keys, and, unless its journal is exact (marked 'E': upserts that went through the
change capture), its landed keys too.
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.core import UNDO_CHUNK, UNDO_OP, UNDO_RUN, Column, DialectCore
from gaussdb_batch.dialects.writes import OP_EXACT, OP_UPDATED
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q


class CompensationSQL(DialectCore):
    """Mixin of ``Dialect``: the statements that undo a run's chunks."""

    def compensate_delete_sql(self, target: TableRef, undo: TableRef, keys: Sequence[Column]) -> str:
        """Remove the rows of a chunk's journal entries (rows it overwrote, keys journaled at re-extract)."""
        return (
            f"DELETE FROM {target.sql} t WHERE EXISTS (SELECT 1 FROM {undo.sql} u"
            f" WHERE u.{_q(UNDO_RUN)} = %(run_id)s AND u.{_q(UNDO_CHUNK)} = %(chunk_no)s"
            f" AND {self.key_match(keys, 'u', 't', cast_right=False)})"
        )

    def compensate_delete_landed_sql(self, schema: str, target: TableRef, landing: TableRef,
                                     keys: Sequence[Column]) -> str:
        """Remove the rows a loaded chunk without an exact journal wrote: its landed keys, rejected rows
        excluded; params: lo, hi."""
        return (
            f"DELETE FROM {target.sql} t WHERE EXISTS (SELECT 1 FROM {landing.sql} s WHERE {self._range_pred()}"
            f" AND {self.key_match(keys, 't', 's', cast_right=True)} AND {self._not_rejected(schema)})"
        )

    def loaded_chunks_sql(self, schema: str) -> str:
        """Chunks of a run that wrote rows and are not compensated yet: number and landed range."""
        return (
            f"SELECT chunk_no, seq_lo, seq_hi FROM {_q(schema)}.chunks WHERE run_id = %(run_id)s"
            " AND loads > 0 AND status <> %(compensated)s ORDER BY chunk_no"
        )

    def compensate_restore_sql(self, target: TableRef, undo: TableRef, cols: Sequence[Column]) -> str:
        """Put back the before-images of the rows the chunk overwrote or deleted."""
        names = ", ".join(c.q for c in cols)
        ucols = ", ".join(f"u.{c.q}" for c in cols)
        return (
            f"INSERT INTO {target.sql} ({names}) SELECT {ucols} FROM {undo.sql} u"
            f" WHERE u.{_q(UNDO_RUN)} = %(run_id)s AND u.{_q(UNDO_CHUNK)} = %(chunk_no)s"
            f" AND u.{_q(UNDO_OP)} = '{OP_UPDATED}'"
        )

    def undo_chunks_sql(self, undo: TableRef) -> str:
        """The run's journaled chunks, each with 1 when its journal is exact (marked 'E'), else 0."""
        return (
            f"SELECT {_q(UNDO_CHUNK)}, max(CASE WHEN {_q(UNDO_OP)} = '{OP_EXACT}' THEN 1 ELSE 0 END)"
            f" FROM {undo.sql} WHERE {_q(UNDO_RUN)} = %(run_id)s GROUP BY {_q(UNDO_CHUNK)} ORDER BY {_q(UNDO_CHUNK)}"
        )

    def purge_undo_sql(self, undo: TableRef) -> str:
        return f"DELETE FROM {undo.sql} WHERE {_q(UNDO_RUN)} = %(run_id)s"

    def mark_chunk_undone_sql(self, undo: TableRef) -> str:
        """Forget a compensated chunk's journal so compensating again is a no-op."""
        return (
            f"DELETE FROM {undo.sql} WHERE {_q(UNDO_RUN)} = %(run_id)s"
            f" AND {_q(UNDO_CHUNK)} = %(chunk_no)s"
        )
