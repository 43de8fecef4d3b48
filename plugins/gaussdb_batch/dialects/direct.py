"""SQL of direct chunks, as Dialect methods: chunks planned as key ranges on the source, read by the lanes.

A direct run's chunk is a range of the first key column (``chunks.key_from .. key_to``, integers)
within the data interval. Its lane reads that range from the source in one snapshot: the range's
fingerprint (the check's landed side), then its rows, which go straight into the target when the
target holds none of the range, or into the landing as a stage for the upsert otherwise; the
landing keeps the keys of every chunk (``SEQ`` numbers them inside the chunk's span of seqs), so
compensation, the check and the journal find a run's keys where they always have.
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.checks import ChecksSQL
from gaussdb_batch.dialects.core import SEQ, Column, base_type
from gaussdb_batch.dialects.row_hash import odd_primes
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q


class DirectSQL(ChecksSQL):
    """Mixin of ``Dialect``: the statements of direct chunks that a landing run does not have."""

    def snapshot_read_sql(self) -> str:
        """First statement of a source transaction whose reads of one chunk must see one snapshot."""
        return "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"

    def _interval_pred(self, interval_column: str | None, alias: str) -> str:
        if interval_column is None:
            return ""
        ic = f"{alias}.{_q(interval_column)}"
        return f" AND {ic} >= %(start)s AND {ic} < %(end)s"

    def _key_range_pred(self, first_key: str, alias: str) -> str:
        k = f"{alias}.{_q(first_key)}"
        return f"{k} >= %(key_from)s AND {k} <= %(key_to)s"

    def source_key_cuts_sql(self, table: TableRef, first_key: str, interval_column: str | None) -> str:
        """One pass over the interval in key order (the key index's order): the first key of every
        %(every)s-th row (rows 1, 1 + every, ...: where the chunks begin), and the last row's key and
        number (the interval's greatest key and its row count); rows (key, row number, is the last).
        Params: start, end, every."""
        k = f"s.{_q(first_key)}"
        where = f"WHERE TRUE{self._interval_pred(interval_column, 's')}"
        return (f"SELECT q.k, q.rn, q.last FROM (SELECT {k} AS k, row_number() OVER w AS rn,"
                f" lead({k}) OVER w IS NULL AS last FROM {table.sql} s {where} WINDOW w AS (ORDER BY {k})) q"
                f" WHERE mod(q.rn - 1, %(every)s) = 0 OR q.last ORDER BY q.rn")

    def chunk_key_range_sql(self, schema: str) -> str:
        """A chunk's first-key range (NULL for a chunk of landed seqs), planned rows, how it was last
        written and the rows it landed; params: run_id, chunk_no."""
        return (f"SELECT key_from, key_to, rows_in, way, land_rows FROM {_q(schema)}.chunks"
                " WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s")

    def representation_hash_expr(self, cols: Sequence[Column], first_key: str, alias: str) -> str:
        """What the row hash treats as equal but a row's stored bytes tell apart: a numeric's display
        scale (1.5 vs 1.50) and a float's signed zero. Per row, hashed with the first key so that
        swapping them between rows shows; ``0`` when no column has such values."""
        terms = []
        for c, weight in zip(cols, odd_primes(len(cols))):
            v, base = f"{alias}.{c.q}", base_type(c.type_sql)
            if base == "numeric":
                terms.append(f"coalesce(scale({v}), -1) * {weight}")
            elif base in ("real", "double precision"):
                terms.append(f"(CASE WHEN {v} = 0 THEN CAST(CAST({v} AS text) = '-0' AS integer) ELSE 0 END) * {weight}")
        if not terms:
            return "0"
        return f"hashint8(CAST(hashint8({alias}.{_q(first_key)}) AS bigint) + {' + '.join(terms)})"

    def _range_fingerprint(self, table: TableRef, cols: Sequence[Column], first_key: str,
                           interval_column: str | None, alias: str, *, from_landing: bool,
                           representation: bool = True) -> str:
        rep = (f"coalesce(sum({self.representation_hash_expr(cols, first_key, alias)}), 0)" if representation
               else "0")
        return (f"SELECT count(*), coalesce(sum({self.row_hash_expr(cols, alias, from_landing=from_landing)}), 0),"
                f" {rep}"
                f" FROM {table.sql} {alias} WHERE {self._key_range_pred(first_key, alias)}"
                f"{self._interval_pred(interval_column, alias)}")

    def source_range_fingerprint_sql(self, table: TableRef, cols: Sequence[Column], first_key: str,
                                     interval_column: str | None) -> str:
        """Count, summed row hash and summed representation hash of the source's rows of one chunk: its
        landed side, hashed as the target's values (a direct run's source columns have exactly the
        target's types); params: start, end, key_from, key_to."""
        return self._range_fingerprint(table, cols, first_key, interval_column, "s", from_landing=True)

    def target_range_fingerprint_sql(self, target: TableRef, cols: Sequence[Column], first_key: str,
                                     interval_column: str | None, *, representation: bool = True) -> str:
        """The same figures of the target's rows in one chunk's range (and the interval, when the target
        has an interval column); params: start, end, key_from, key_to. Without ``representation`` its
        third figure is 0 (it is compared with a source's only between servers of one family)."""
        return self._range_fingerprint(target, cols, first_key, interval_column, "t", from_landing=False,
                                       representation=representation)

    def target_range_holds_rows_sql(self, target: TableRef, first_key: str, interval_column: str | None) -> str:
        """1 when the target holds a row in one chunk's range (and interval), else no row: an index
        probe; params: start, end, key_from, key_to."""
        return (f"SELECT 1 FROM {target.sql} t WHERE {self._key_range_pred(first_key, 't')}"
                f"{self._interval_pred(interval_column, 't')} LIMIT 1")

    def source_range_select_sql(self, table: TableRef, cols: Sequence[Column], keys: Sequence[Column],
                                interval_column: str | None, *, numbered: bool) -> str:
        """The source's rows of one chunk: ``numbered`` with SEQ = %(base)s + their rank in key order
        (for the landing; ``cols`` may be the keys only), else as they are (for the target)."""
        names = ", ".join(f"s.{c.q}" for c in cols)
        order = ", ".join(f"s.{k.q}" for k in keys)
        seq = f"CAST(%(base)s AS bigint) + row_number() OVER (ORDER BY {order}), " if numbered else ""
        return (f"SELECT {seq}{names} FROM {table.sql} s WHERE {self._key_range_pred(keys[0].name, 's')}"
                f"{self._interval_pred(interval_column, 's')}")

    def land_keys_from_target_sql(self, landing: TableRef, target: TableRef, keys: Sequence[Column],
                                  interval_column: str | None) -> str:
        """The keys of the target's rows in one chunk's range (and interval) into the landing, numbered
        %(base)s + their rank in key order: a range the chunk just copied in, or found identical.
        Params: base, start, end, key_from, key_to."""
        knames = ", ".join(k.q for k in keys)
        order = ", ".join(f"t.{k.q}" for k in keys)
        return (f"INSERT INTO {landing.sql} ({_q(SEQ)}, {knames}) SELECT CAST(%(base)s AS bigint)"
                f" + row_number() OVER (ORDER BY {order}), {order} FROM {target.sql} t"
                f" WHERE {self._key_range_pred(keys[0].name, 't')}{self._interval_pred(interval_column, 't')}")

    def keys_and_fingerprint_sql(self, landing: TableRef, target: TableRef, cols: Sequence[Column],
                                 keys: Sequence[Column], interval_column: str | None) -> str | None:
        """``land_keys_from_target_sql`` and the count and summed row hash of the same target rows in one
        statement (one read of the range), where the server can (a data-modifying WITH); None: run the
        two statements. Params: those of both."""
        return None

    def landed_range_fingerprint_sql(self, landing: TableRef, cols: Sequence[Column]) -> str:
        """Count and summed row hash of a staged chunk's landed rows (seqs lo..hi), before any of them
        is rejected; params: lo, hi."""
        return (f"SELECT count(*), coalesce(sum({self.row_hash_expr(cols, 's', from_landing=True)}), 0)"
                f" FROM {landing.sql} s WHERE s.{_q(SEQ)} BETWEEN %(lo)s AND %(hi)s")

    def delete_landing_span_sql(self, landing: TableRef) -> str:
        """A chunk's landed rows (its seqs lo..hi), before it is staged again; params: lo, hi."""
        return f"DELETE FROM {landing.sql} WHERE {_q(SEQ)} BETWEEN %(lo)s AND %(hi)s"

    def set_chunk_fingerprint_sql(self, schema: str) -> str:
        """A direct chunk's landed side and how it was written; params: run_id, chunk_no, n, h, way."""
        return (f"UPDATE {_q(schema)}.chunks SET land_rows = %(n)s, land_hash = %(h)s, way = %(way)s"
                " WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s")
