"""SQL of landing, as Dialect methods: the landing table's DDL, COPY, the source SELECT and landed-row reads.

A landing holds one interval's rows numbered by ``SEQ`` (1..N), typed as the target or as text
(``typed_landing``); chunks are ranges of that number.
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.core import SEQ, Column, DialectCore
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q


class LandingSQL(DialectCore):
    """Mixin of ``Dialect``: the landing table and what reads and writes it."""

    def drop_table_sql(self, table: TableRef) -> str:
        return f"DROP TABLE IF EXISTS {table.sql}"

    def create_landing_sql(self, landing: TableRef, cols: Sequence[Column]) -> str:
        """Landing of the target's column types (typed_landing), or of text columns.

        Typed, the extract's COPY parses every value once and the chunk statements cast
        nothing; a value the type rejects fails the whole COPY, so the engine then lands the
        interval again as text, where bad values surface per row at load. No constraints:
        NOT NULL, CHECK and unique violations surface per row at load in both layouts.
        """
        defs = ", ".join([f"{_q(SEQ)} bigint NOT NULL"]
                         + [f"{c.q} {c.type_sql if self.typed_landing else 'text'}" for c in cols])
        return f"CREATE UNLOGGED TABLE {landing.sql} ({defs}){self.storage_clause()}{self.distribution_clause(cols)}"

    def landing_index_sql(self, landing: TableRef) -> str:
        """Unique on the sequence; on a distributed target the distribution key leads (a unique index
        there must contain it)."""
        cols = ", ".join([_q(c) for c in self.distribute_by] + [_q(SEQ)])
        return f"CREATE UNIQUE INDEX {_q(landing.name + '_seq')} ON {landing.sql} ({cols})"

    def analyze_sql(self, table: TableRef, columns: Sequence[str] = ()) -> str:
        cols = f" ({', '.join(_q(c) for c in columns)})" if columns else ""
        return f"ANALYZE {table.sql}{cols}"

    def copy_in_sql(self, table: TableRef, columns: Sequence[str], *, binary: bool = False) -> str:
        cols = ", ".join(_q(c) for c in columns)
        return f"COPY {table.sql} ({cols}) FROM STDIN WITH (FORMAT {'binary' if binary else 'csv'})"

    def copy_out_sql(self, query: str, *, binary: bool = False) -> str:
        return f"COPY ({query}) TO STDOUT WITH (FORMAT {'binary' if binary else 'csv'})"

    def source_select_sql(
        self,
        cols: Sequence[Column],
        *,
        table: TableRef | None = None,
        interval_column: str | None = None,
        query: str | None = None,
        order_by: Sequence[str] = (),
        tie_break: Sequence[str] = (),
        where: str | None = None,
    ) -> str:
        """Rows of one interval, numbered, as they are (typed landing) or as text; params: start, end.

        ``query`` is a user SQL whose interval placeholders are %(start)s / %(end)s. Rows of one
        key are numbered by ``tie_break`` descending, so the first of them holds the greatest.
        ``where``: a further predicate over the table's rows (a repair's keys), with no interval column:
        the rows it names, whatever their interval.
        """
        text_cols = ", ".join(f"q.{c.q}" if self.typed_landing else f"CAST(q.{c.q} AS text)" for c in cols)
        order = ", ".join([f"q.{_q(k)}" for k in order_by] + [f"q.{_q(t)} DESC NULLS LAST" for t in tie_break])
        numbered = f"row_number() OVER ({'ORDER BY ' + order if order else ''})"
        if table is not None:
            preds = [] if where is None else [where]
            if interval_column is not None:
                ic = _q(interval_column)
                preds.insert(0, f"{ic} >= %(start)s AND {ic} < %(end)s")
            src = f"SELECT * FROM {table.sql}" + (f" WHERE {' AND '.join(preds)}" if preds else "")
        elif query is not None:
            src = query
        else:
            raise ValueError("source_select_sql needs a table or a query")
        return f"SELECT {numbered}, {text_cols} FROM ({src}) q"

    def timestamp_literal(self, value: object) -> str:
        """A timestamptz literal for statements that cannot bind (COPY (query) TO STDOUT).

        Only datetime objects are accepted (the data interval), never text from outside.
        """
        import datetime as _dt

        if not isinstance(value, _dt.datetime):
            raise TypeError(f"interval bounds must be datetimes, got {type(value).__name__}")
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return f"CAST('{value.isoformat()}' AS timestamptz)"

    def insert_landing_from_select_sql(self, landing: TableRef, cols: Sequence[Column], select_sql: str) -> str:
        names = ", ".join([_q(SEQ)] + [c.q for c in cols])
        return f"INSERT INTO {landing.sql} ({names}) {select_sql}"

    def landing_stats_sql(self, landing: TableRef) -> str:
        return f"SELECT count(*), min({_q(SEQ)}), max({_q(SEQ)}) FROM {landing.sql}"

    def duplicate_keys_sql(self, landing: TableRef, keys: Sequence[Column]) -> str:
        """Seqs of landed rows whose key already appeared at a lower seq (first occurrence wins)."""
        k = ", ".join(f"s.{c.q}" for c in keys)
        k2 = " AND ".join(f"d.{c.q} IS NOT DISTINCT FROM s.{c.q}" for c in keys)
        inner = ", ".join(c.q for c in keys)
        return (
            f"SELECT s.{_q(SEQ)} FROM {landing.sql} s JOIN ("
            f"SELECT {inner}, min({_q(SEQ)}) AS first_seq FROM {landing.sql} "
            f"GROUP BY {inner} HAVING count(*) > 1) d ON {k2} "
            f"WHERE s.{_q(SEQ)} > d.first_seq ORDER BY {k}, s.{_q(SEQ)}"
        )

    def landing_rows_sql(self, landing: TableRef, cols: Sequence[Column]) -> str:
        """Landed rows by seq list, as text whatever the landing's layout (rejects); params: seqs (a list)."""
        names = ", ".join([_q(SEQ)] + [f"CAST({c.q} AS text)" for c in cols])
        return f"SELECT {names} FROM {landing.sql} WHERE {_q(SEQ)} = ANY(%(seqs)s) ORDER BY {_q(SEQ)}"

    def delete_landing_rows_sql(self, landing: TableRef) -> str:
        return f"DELETE FROM {landing.sql} WHERE {_q(SEQ)} = ANY(%(seqs)s)"

    def boundary_keys_sql(self, landing: TableRef, keys: Sequence[Column]) -> str:
        k = ", ".join(c.q for c in keys)
        return f"SELECT {_q(SEQ)}, {k} FROM {landing.sql} WHERE {_q(SEQ)} = ANY(%(seqs)s)"
