"""PostgreSQL dialect: upserts with ON CONFLICT."""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.base import Column, Dialect
from gaussdb_batch.identifiers import TableRef


#: The upsert's name for the target row (its whole-row value is compared with EXCLUDED).
TARGET_ALIAS = "_gb_t"


class PostgresDialect(Dialect):
    """PostgreSQL 12+: the reference server our tests run on."""

    name = "postgres"

    def chunk_plan_settings_sql(self, pinned: bool = True) -> str:
        # PostgreSQL also JIT-compiles a chunk's statements (their estimated cost is a whole
        # table's); compiling costs more than the chunk itself. GaussDB has no jit setting.
        return super().chunk_plan_settings_sql(pinned) + ", set_config('jit', 'off', true)"

    def upsert_sql(self, target: TableRef, landing: TableRef, cols: Sequence[Column],
                   keys: Sequence[Column]) -> str:
        names = ", ".join(c.q for c in cols)
        key_names = {k.name for k in keys}
        conflict = ", ".join(k.q for k in keys)
        sets = ", ".join(f"{c.q} = EXCLUDED.{c.q}" for c in cols if c.name not in key_names)
        # A row already identical to the landed one (byte for byte: record image equality, so
        # 1.0 vs 1.00 or json without an equality operator still compare exactly) is not
        # rewritten: no new row version, no index entries, no WAL for it. Its before-image is
        # journaled all the same, so compensation stays exact.
        action = f"DO UPDATE SET {sets} WHERE NOT ({TARGET_ALIAS} *= EXCLUDED)" if sets else "DO NOTHING"
        return (
            f"INSERT INTO {target.sql} AS {TARGET_ALIAS} ({names}) {self.staged_select(landing, cols)} "
            f"ON CONFLICT ({conflict}) {action}"
        )
