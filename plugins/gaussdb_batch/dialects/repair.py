"""SQL of the reconciliation's repair, as Dialect methods: the repair's key set and its reads.

A repair run (engine/repair.py) re-syncs the records one reconciliation found differing. Their
keys are a typed table next to the run's landing (``land_<run>_keys``): delete_insert's purge
chunk and the check's comparison of it are bounded by that set instead of by an interval. The
source is read with the same key set inlined as a VALUES list (a COPY from another server cannot
join a table of the target), its values bound as ``%(rk_<row>_<key>)s`` placeholders the engine
renders as literals.
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.core import Column, DialectCore
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q


class RepairSQL(DialectCore):
    """Mixin of ``Dialect``: the statements of a repair run that no interval run has."""

    def recon_get_sql(self, schema: str) -> str:
        """One reconciliation: batch, status, started_at, finished_at, its repair run; params: recon_id."""
        return (f"SELECT batch, status, started_at, finished_at, repair_run_id FROM {_q(schema)}.reconciliations"
                " WHERE recon_id = %(recon_id)s")

    def recon_set_repair_sql(self, schema: str) -> str:
        """Name the run that repairs a reconciliation; params: recon_id, run_id."""
        return f"UPDATE {_q(schema)}.reconciliations SET repair_run_id = %(run_id)s WHERE recon_id = %(recon_id)s"

    def recon_diff_keys_sql(self, schema: str) -> str:
        """The distinct keys (JSON text) of a reconciliation's differing records; params: recon_id, limit."""
        return (f"SELECT DISTINCT key_text FROM {_q(schema)}.reconciliation_diffs WHERE recon_id = %(recon_id)s"
                " ORDER BY key_text LIMIT %(limit)s")

    def repair_keys_ddl(self, table: TableRef, keys: Sequence[Column]) -> str:
        """The repair's key set: one row per differing key, typed as the target's keys."""
        defs = ", ".join(f"{k.q} {k.type_sql}" for k in keys)
        return f"CREATE UNLOGGED TABLE {table.sql} ({defs}){self.storage_clause()}{self.distribution_clause(keys)}"

    def _repair_key_rows(self, keys: Sequence[Column], rows: int) -> str:
        """``rows`` key rows ``(CAST(%(rk_<row>_<key>)s AS <type>), ...)``, comma-separated."""
        return ", ".join("(" + ", ".join(f"CAST(%(rk_{r}_{i})s AS {k.type_sql})" for i, k in enumerate(keys)) + ")"
                         for r in range(rows))

    def repair_keys_insert_sql(self, table: TableRef, keys: Sequence[Column], rows: int) -> str:
        """The key set's ``rows`` keys in one statement; the placeholders of ``repair_source_filter``."""
        names = ", ".join(k.q for k in keys)
        return f"INSERT INTO {table.sql} ({names}) VALUES {self._repair_key_rows(keys, rows)}"

    def repair_source_filter(self, keys: Sequence[Column], cast: Sequence[str], rows: int) -> str:
        """The source rows whose key is one of ``rows`` keys: ``%(rk_<row>_<key>)s`` placeholders.

        A source column whose type differs from the target's (``cast``) is compared as the target's type.
        """
        refs = [f"CAST({k.q} AS {k.type_sql})" if k.name in cast else k.q for k in keys]
        return f"({', '.join(refs)}) IN (VALUES {self._repair_key_rows(keys, rows)})"
