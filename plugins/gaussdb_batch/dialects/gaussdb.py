"""GaussDB / openGauss dialect: the common subset that also runs on PostgreSQL 15.

No ``INSERT ... ON CONFLICT`` (centralized GaussDB and openGauss lack it): upserts are
``MERGE INTO`` with at most one MATCHED and one NOT MATCHED branch, no branch
conditions, key columns never in SET, and a source whose keys are unique (the planner
rejects duplicate keys of an interval before any chunk loads) and that leaves out the
rows the target already holds identical (``changes_only``). ``ON DUPLICATE KEY
UPDATE`` is available as an option for servers where MERGE is unwanted. Distributed
targets get ``DISTRIBUTE BY HASH`` on their landing tables so a chunk's merge stays on
its data nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.base import Column, Dialect, base_type
from gaussdb_batch.identifiers import TableRef, quote_ident


_SPACE, _SIGN = "[[:space:]]*", "[-+]?"
_DECIMAL = "([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?"
_NAN, _INF = "[Nn][Aa][Nn]", "[Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?"
#: Base type -> a POSIX regular expression of the text its input function accepts on PostgreSQL
#: (no hex / underscores: openGauss and PostgreSQL 15 refuse them too).
NUMBER_PATTERNS = {
    **dict.fromkeys(("smallint", "integer", "bigint"), f"^{_SPACE}{_SIGN}[0-9]+{_SPACE}$"),
    **dict.fromkeys(("numeric", "decimal"), f"^{_SPACE}({_SIGN}{_DECIMAL}|{_NAN}){_SPACE}$"),
    **dict.fromkeys(("real", "double precision"), f"^{_SPACE}({_SIGN}{_DECIMAL}|{_NAN}|{_SIGN}{_INF}){_SPACE}$"),
}
#: What a row failing the number check is rejected with (SQLSTATE, message), in place of the regular
#: expression's error.
NUMBER_CHECK = ("22P02", "invalid input syntax for a number column: the database runs in sql_compatibility B, "
                         "which casts such text to 0 without an error, so the text is checked before the cast")
INVALID_REGULAR_EXPRESSION = "2201B"


class GaussDBDialect(Dialect):
    """GaussDB centralized / distributed and openGauss."""

    name = "gaussdb"

    def number_pattern(self, col: Column) -> str | None:
        """The text a number column's type accepts (PostgreSQL's input syntax), when it must be checked."""
        if not self.caps.check_numbers or col.is_string:
            return None
        return NUMBER_PATTERNS.get(base_type(col.type_sql))

    def lands_typed(self, cols: Sequence[Column]) -> bool:
        """Whether a landing may take the target's types: not when a number column's text must be
        checked (a typed landing's COPY would cast bad text to 0 without an error)."""
        return not any(self.number_pattern(c) for c in cols)

    def cast_expr(self, col: Column, alias: str = "s") -> str:
        """As the base dialect; a number of a text landing is checked first where casts are lax (B mode).

        Text that does not match its type's input syntax meets an invalid regular expression, whose
        error (2201B, regexp.cpp: the same in every compatibility mode) fails the row as a data error,
        so bisection rejects it as PostgreSQL's own cast error would (stored as 22P02, NUMBER_CHECK).
        """
        pattern = self.number_pattern(col)
        if pattern is None or self.typed_landing:
            return super().cast_expr(col, alias)
        ref = f"{alias}.{col.q}"
        return f"CAST(CASE WHEN {ref} ~ '{pattern}' THEN {ref} WHEN {ref} ~ '(' THEN NULL END AS {col.type_sql})"

    @property
    def needs_unique_columns(self) -> bool:  # type: ignore[override]
        # Outside B mode no column of ANY primary key or unique index may be in ODKU's SET.
        return self.caps.upsert_style == "on_duplicate_key"

    def distribution_key_sql(self) -> str:
        """A table's distribution on a distributed cluster: ``pcattnum`` as text ("1 3") and the locator
        type (H hash, R replication, N round robin); params: schema, table. Only where ``pgxc_class``
        exists (``distributed``)."""
        return (
            "SELECT CAST(x.pcattnum AS text), x.pclocatortype FROM pgxc_class x "
            "JOIN pg_class c ON c.oid = x.pcrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %(schema)s AND c.relname = %(table)s"
        )

    def distribution_clause(self, cols: Sequence[Column]) -> str:
        if not self.distribute_by:
            return ""
        return " DISTRIBUTE BY HASH (" + ", ".join(quote_ident(c) for c in self.distribute_by) + ")"

    def set_columns(self, cols: Sequence[Column], keys: Sequence[Column]) -> list[Column]:
        """What the upsert assigns: never a key nor the distribution key (GaussDB forbids updating it), and
        with ON DUPLICATE KEY UPDATE no column of any unique index either (outside B mode)."""
        frozen = {k.name for k in keys} | set(self.distribute_by)
        if self.caps.upsert_style == "on_duplicate_key":
            frozen |= set(self.unique_columns)
        return [c for c in cols if c.name not in frozen]

    def upsert_sql(self, target: TableRef, landing: TableRef, cols: Sequence[Column],
                   keys: Sequence[Column]) -> str:
        if self.caps.upsert_style == "on_duplicate_key":
            return self.on_duplicate_key_sql(target, landing, cols, keys)
        return self.merge_sql(target, landing, cols, keys)

    def merge_sql(self, target: TableRef, landing: TableRef, cols: Sequence[Column],
                  keys: Sequence[Column]) -> str:
        """MERGE of the landed rows the target does not hold already, identical (``changes_only``): an
        identical row is neither rewritten nor journaled. openGauss takes a WHERE on the UPDATE action
        and PostgreSQL 15 an AND on WHEN MATCHED, so the common subset filters the source instead."""
        # The distribution key is never updated (GaussDB forbids it); it must be part of the key.
        on = " AND ".join(f"t.{k.q} = s.{k.q}" for k in keys)
        sets = ", ".join(f"{c.q} = s.{c.q}" for c in self.set_columns(cols, keys))
        names = ", ".join(c.q for c in cols)
        values = ", ".join(f"s.{c.q}" for c in cols)
        matched = f" WHEN MATCHED THEN UPDATE SET {sets}" if sets else ""
        source = self.staged_select(landing, cols, self.changes_only(target, cols, keys))
        return (
            f"MERGE INTO {target.sql} t USING ({source}) s ON ({on})"
            f"{matched} WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
        )

    def on_duplicate_key_sql(self, target: TableRef, landing: TableRef, cols: Sequence[Column],
                             keys: Sequence[Column]) -> str:
        """openGauss's ``ON DUPLICATE KEY UPDATE`` (no RETURNING, no WITH) of the landed rows the target
        does not hold already, identical. Outside B mode no column of any primary key or unique index
        may be in SET: the batch keys, the distribution key and every column of the target's unique
        indexes stay out."""
        names = ", ".join(c.q for c in cols)
        sets = ", ".join(f"{c.q} = EXCLUDED.{c.q}" for c in self.set_columns(cols, keys))
        tail = f" ON DUPLICATE KEY UPDATE {sets}" if sets else " ON DUPLICATE KEY UPDATE NOTHING"
        source = self.staged_select(landing, cols, self.changes_only(target, cols, keys))
        return f"INSERT INTO {target.sql} ({names}) {source}{tail}"
