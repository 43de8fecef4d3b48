"""PostgreSQL dialect: upserts with ON CONFLICT."""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.base import SEQ, Column, Dialect
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q


#: The upsert's name for the target row (its whole-row value is compared with EXCLUDED).
TARGET_ALIAS = "_gb_t"


class PostgresDialect(Dialect):
    """PostgreSQL 12+: the reference server our tests run on."""

    name = "postgres"

    def keys_and_fingerprint_sql(self, landing: TableRef, target: TableRef, cols: Sequence[Column],
                                 keys: Sequence[Column], interval_column: str | None) -> str | None:
        """One read of a straight chunk's range: its keys into the landing (a data-modifying WITH, which
        openGauss does not have) and the count and summed row hash of its rows."""
        knames = ", ".join(k.q for k in keys)
        order = ", ".join(f"r.{k.q}" for k in keys)
        rows = (f"SELECT {', '.join(f't.{k.q}' for k in keys)}, {self.row_hash_expr(cols, 't', from_landing=False)}"
                f" AS gb_h FROM {target.sql} t WHERE {self._key_range_pred(keys[0].name, 't')}"
                f"{self._interval_pred(interval_column, 't')}")
        return (f"WITH r AS MATERIALIZED ({rows}), k AS (INSERT INTO {landing.sql} ({_q(SEQ)}, {knames})"
                f" SELECT CAST(%(base)s AS bigint) + row_number() OVER (ORDER BY {order}), {order} FROM r)"
                " SELECT count(*), coalesce(sum(r.gb_h), 0) FROM r")

    def chunk_plan_settings_sql(self, pinned: bool = True) -> str:
        # PostgreSQL also JIT-compiles a chunk's statements (their estimated cost is a whole
        # table's); compiling costs more than the chunk itself. GaussDB has no jit setting.
        return super().chunk_plan_settings_sql(pinned) + ", set_config('jit', 'off', true)"

    def same_row_expr(self, cols: Sequence[Column], stored: str, new: str, *, from_landing: bool) -> str:
        """As the base dialect, by byte image (``record_image_eq``, the ``*=`` of records): 1.0 vs 1.00, -0 vs 0 or a json without an equality
        operator compare exactly, in one call per row. Landed strings are cast to their column's type
        (``*=`` compares equal types only); an over-long one the cast cuts short still fails the upsert."""
        if not cols:
            return "TRUE"

        def value(c: Column) -> str:
            if not from_landing:
                return f"{new}.{c.q}"
            if c.is_string and not self.typed_landing:
                return f"CAST({new}.{c.q} AS {c.type_sql})"
            return self.cast_expr(c, new)

        left = ", ".join(f"{stored}.{c.q}" for c in cols)
        # The function, not the operator: ROW(..) *= ROW(..) would compare column by column with *=.
        return f"record_image_eq(ROW({left}), ROW({', '.join(value(c) for c in cols)}))"

    def upsert_sql(self, target: TableRef, landing: TableRef, cols: Sequence[Column],
                   keys: Sequence[Column]) -> str:
        names = ", ".join(c.q for c in cols)
        conflict = ", ".join(k.q for k in keys)
        assigned = self.set_columns(cols, keys)
        sets = ", ".join(f"{c.q} = EXCLUDED.{c.q}" for c in assigned)
        # A row already identical to the landed one is not rewritten (no new row version, no index
        # entries, no WAL for it) and, by the same test, not journaled (capture_changes_sql).
        same = self.same_row_expr(assigned, TARGET_ALIAS, "EXCLUDED", from_landing=False)
        action = f"DO UPDATE SET {sets} WHERE NOT {same}" if sets else "DO NOTHING"
        return (
            f"INSERT INTO {target.sql} AS {TARGET_ALIAS} ({names}) {self.staged_select(landing, cols)} "
            f"ON CONFLICT ({conflict}) {action}"
        )
