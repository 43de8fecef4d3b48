"""What every stage's SQL shares: landing and undo column names, ``Column``, and the base of the mixins.

``DialectCore`` declares what a dialect is (its server's capabilities, the landing's layout, the
target's distribution) and the predicates several stages' statements share. The stage mixins
(catalog, runs, landing, chunks, writes, row_hash, checks, compensation) build on it; ``Dialect``
(base.py) composes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gaussdb_batch.dialects.capabilities import Capabilities
from gaussdb_batch.identifiers import TableRef, quote_ident
from gaussdb_batch.identifiers import quote_ident as _q

#: Column of every landing table holding the landed row's ordinal (1..N).
SEQ = "_gb_seq"
#: Columns of every undo table, before the target's own columns.
UNDO_RUN, UNDO_CHUNK, UNDO_OP = "_gb_run_id", "_gb_chunk", "_gb_op"


@dataclass(frozen=True)
class Column:
    """A target column: its name, its SQL type text (format_type) and whether it is a string type."""

    name: str
    type_sql: str
    is_string: bool = False

    @property
    def q(self) -> str:
        return quote_ident(self.name, what="column name")


def base_type(type_sql: str) -> str:
    """``numeric(15,2)`` -> ``numeric``; ``timestamp(0) without time zone`` -> ``timestamp without time zone``."""
    return re.sub(r"\s*\([^)]*\)", "", type_sql).strip().lower()


class DialectCore:
    """Base of the stage mixins: the state a dialect holds and the predicates stages share."""

    #: What the server can do (``Dialect.__init__`` sets it).
    caps: Capabilities
    #: Landing tables have the target's column types (``for_landing(True)``); otherwise they
    #: hold text and every landing-side expression casts to the target's type.
    typed_landing = False
    #: The target's distribution key (``for_target``).
    distribute_by: list[str]
    #: Columns of the target's primary key and unique indexes (read when ``needs_unique_columns``).
    unique_columns: list[str]

    def cast_expr(self, col: Column, alias: str = "s") -> str:
        """A landed value as the target's type: as it is in a typed landing, cast from text otherwise.

        String columns stay uncast so the assignment cast raises on over-long values
        (an explicit ``::varchar(n)`` would silently truncate them).
        """
        ref = f"{alias}.{col.q}"
        return ref if col.is_string or self.typed_landing else f"CAST({ref} AS {col.type_sql})"

    def key_match(self, keys: Sequence[Column], left: str, right: str, *, cast_right: bool) -> str:
        parts = []
        for k in keys:
            rhs = self.cast_expr(k, right) if cast_right else f"{right}.{k.q}"
            parts.append(f"{left}.{k.q} = {rhs}")
        return " AND ".join(parts)

    def distribution_clause(self, cols: Sequence[Column]) -> str:
        return ""

    def storage_clause(self) -> str:
        """``WITH (storage_type = astore)`` where the server would make the table ustore."""
        return " WITH (storage_type = astore)" if self.caps.astore else ""

    def control_table_clause(self) -> str:
        """What every control table's CREATE TABLE ends with: astore, replicated on a distributed
        cluster (its primary key and unique constraints share no column, which a hash-distributed
        table cannot have)."""
        return self.storage_clause() + (" DISTRIBUTE BY REPLICATION" if self.caps.distributed else "")

    def _range_pred(self, alias: str = "s") -> str:
        return f"{alias}.{_q(SEQ)} BETWEEN %(lo)s AND %(hi)s"

    def _not_rejected(self, schema: str, alias: str = "s") -> str:
        return (
            f"NOT EXISTS (SELECT 1 FROM {_q(schema)}.rejects r WHERE r.run_id = %(run_id)s"
            f" AND r.seq = {alias}.{_q(SEQ)})"
        )

    def _vanished(self, target: TableRef, landing: TableRef, keys: Sequence[Column], interval_column: str,
                  key_set: TableRef | None = None) -> str:
        """Target rows of the run's interval whose key the source no longer has.

        A repair run (``key_set``: its table of differing keys) owns those keys instead of an interval.
        """
        ic = _q(interval_column)
        scope = (f"EXISTS (SELECT 1 FROM {key_set.sql} r WHERE {self.key_match(keys, 't', 'r', cast_right=False)})"
                 if key_set is not None else f"t.{ic} >= %(start)s AND t.{ic} < %(end)s")
        return (
            f"{scope} AND NOT EXISTS (SELECT 1 FROM {landing.sql} s"
            f" WHERE {self.key_match(keys, 't', 's', cast_right=True)})"
        )
