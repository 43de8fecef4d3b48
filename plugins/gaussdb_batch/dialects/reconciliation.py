"""SQL of the scheduled reconciliation, as Dialect methods: canonical row digests, key ranges, results.

Both servers run the same text: the source side's statements are built by the TARGET's dialect
with the source table and cast each column to the target's type, so a row is digested as the
target stores it. The canonical text of a value depends on no session setting (DateStyle,
IntervalStyle, extra_float_digits, bytea_output, TimeZone, collations); no ``||`` (OR under
openGauss's dolphin plugin) and no bare ``timestamp`` (timestamptz(0) there). What is compared
and why is in docs/engine.md ("Scheduled reconciliation: the source against the target").
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.core import Column, DialectCore, base_type
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q

#: The text a NULL value contributes to a row's digest: every value's text starts with 'V'.
RECON_NULL = "N"
#: to_char's format of dates and timestamps: every field, microseconds and the era.
TS_FORMAT = "YYYY-MM-DD HH24:MI:SS.US BC"
#: concat() takes at most 100 arguments: a row's values are joined in groups of this many.
_CONCAT_GROUP = 60
#: Exact types whose text no setting changes (numeric keeps the target type's scale).
_EXACT_TEXT = ("smallint", "integer", "bigint", "numeric", "oid")
_TIMESTAMPS = ("date", "timestamp without time zone", "timestamp with time zone")
#: Types whose canonical text is made of digits, signs, '.', ':', ' ', hex, letters of NaN/Infinity/BC
#: and never a ',': their code ends with one instead of carrying a length.
_COMMA_FREE = (*_EXACT_TEXT, *_TIMESTAMPS, "real", "double precision", "boolean", "bytea", "interval", "uuid")


class ReconciliationSQL(DialectCore):
    """Mixin of ``Dialect``: digests and key ranges of the reconciliation, and its control tables."""

    # -- digests -----------------------------------------------------------------------
    def recon_value_text(self, col: Column, value: str) -> str:
        """``value`` (non-NULL, of ``col``'s type) as a canonical text no session setting changes."""
        base = base_type(col.type_sql)
        if base in _EXACT_TEXT:
            return f"CAST({value} AS text)"
        if base == "real":
            return f"encode(float4send({value}), 'hex')"
        if base == "double precision":
            return f"encode(float8send({value}), 'hex')"
        if base == "boolean":
            return f"(CASE WHEN {value} THEN 't' ELSE 'f' END)"
        if base == "bytea":
            return f"encode({value}, 'hex')"
        if base in _TIMESTAMPS:
            ts = (f"({value} AT TIME ZONE 'UTC')" if base == "timestamp with time zone"
                  else f"CAST({value} AS timestamp without time zone)")
            return f"(CASE WHEN isfinite({value}) THEN to_char({ts}, '{TS_FORMAT}') ELSE CAST({value} AS text) END)"
        if base == "interval":
            parts = [f"CAST(date_part('{f}', {value}) AS bigint)" for f in ("year", "month", "day", "hour", "minute",
                                                                               "microseconds")]
            return f"concat_ws(' ', {', '.join(parts)})"
        return f"CAST({value} AS text)"

    def recon_value_code(self, col: Column, value: str) -> str:
        """``value`` encoded injectively: the NULL marker, or 'V' and the text ended by ',' for types whose
        canonical text never holds a ',' (numbers, bits, booleans, to_char stamps, hex), else 'V', the text's
        length, ':' and the text (the text is then computed twice: only for free-form types)."""
        text = self.recon_value_text(col, value)
        if base_type(col.type_sql) in _COMMA_FREE:
            return f"(CASE WHEN {value} IS NULL THEN '{RECON_NULL}' ELSE concat('V', {text}, ',') END)"
        return f"(CASE WHEN {value} IS NULL THEN '{RECON_NULL}' ELSE concat('V', length({text}), ':', {text}) END)"

    def recon_row_md5(self, cols: Sequence[Column], alias: str, cast: Sequence[str] = ()) -> str:
        """The md5 of a row's values in column order; columns named in ``cast`` are cast to the target's type."""
        codes = [self.recon_value_code(c, self._recon_ref(c, alias, cast)) for c in cols]
        groups = [f"concat({', '.join(codes[i:i + _CONCAT_GROUP])})" for i in range(0, len(codes), _CONCAT_GROUP)]
        return f"md5({groups[0] if len(groups) == 1 else 'concat(' + ', '.join(groups) + ')'})"

    @staticmethod
    def _recon_ref(col: Column, alias: str, cast: Sequence[str]) -> str:
        ref = f"{alias}.{col.q}"
        return f"CAST({ref} AS {col.type_sql})" if col.name in cast else ref

    def _recon_key(self, col: Column, alias: str, cast: Sequence[str]) -> str:
        ref = self._recon_ref(col, alias, cast)
        return f"({ref} COLLATE \"C\")" if col.is_string else ref

    # -- the rows of one range -----------------------------------------------------------
    def recon_where(self, keys: Sequence[Column], alias: str, cast: Sequence[str], *, interval_column: str | None,
                    key_bounds: bool, lo: bool | int, hi: bool | int) -> str:
        """The rows of a scope and a key range: ``%(start)s``/``%(end)s`` on the interval column, the first key
        in [``%(key_lo)s``, ``%(key_hi)s``], the keys in [``%(lo_i)s``..., ``%(hi_i)s``...) (row comparison).
        ``lo``/``hi``: True (every key column), False (open), or how many leading key columns the bound
        holds (a bound on a prefix: the rows whose leading columns compare so)."""
        preds = ["TRUE"]
        if interval_column is not None:
            ic = f"{alias}.{_q(interval_column)}"
            preds.append(f"{ic} >= %(start)s AND {ic} < %(end)s")
        first = keys[0]
        if key_bounds:
            k = self._recon_key(first, alias, cast)
            preds.append(f"{k} >= CAST(%(key_lo)s AS {first.type_sql}) AND {k} <= CAST(%(key_hi)s AS {first.type_sql})")
        for bound, op, width in (("lo", ">=", lo), ("hi", "<", hi)):
            n = len(keys) if width is True else int(width)
            if n:
                row = ", ".join(self._recon_key(k, alias, cast) for k in keys[:n])
                vals = ", ".join(f"CAST(%({bound}_{i})s AS {k.type_sql})" for i, k in enumerate(keys[:n]))
                preds.append(f"({row}) {op} ({vals})" if n > 1 else f"{row} {op} {vals}")
        return " AND ".join(preds)

    @staticmethod
    def _recon_sums() -> str:
        """An order-free digest of the rows' md5s ``d.m``: two sums of 60 of their bits."""
        return ", ".join(f"coalesce(sum(CAST(CAST(CAST(concat('x', substr(d.m, {a}, 15)) AS bit(60)) AS bigint)"
                         f" AS numeric)), 0)" for a in (1, 16))

    def recon_bucket_arith(self, keys: Sequence[Column], alias: str, cast: Sequence[str] = ()) -> str:
        """The bucket (0 .. ``%(b_n)s`` - 1) of a row by its first key, an integer: floor((k - lo) * n / span)
        with ``%(b_lo)s`` and ``%(b_span)s`` (= hi - lo + 1), clamped so rows outside [lo, hi] fall in the
        outer buckets. Exact numeric ``div()``, never ``/`` (float8 on openGauss for integers)."""
        k = self._recon_key(keys[0], alias, cast)
        n = "CAST(%(b_n)s AS numeric)"
        b = f"div((CAST({k} AS numeric) - CAST(%(b_lo)s AS numeric)) * {n}, CAST(%(b_span)s AS numeric))"
        return f"CAST(greatest(0, least({n} - 1, {b})) AS integer)"

    def recon_bucket_case(self, keys: Sequence[Column], alias: str, points: int, cast: Sequence[str] = ()) -> str:
        """The bucket (0 .. ``points``) of a row: how many of the split points ``%(p_<i>_<j>)s`` (key column j
        of point i, ascending) are at or below its keys, as a binary search of nested CASEs over row
        comparisons (about log2(points) comparisons a row)."""
        row = ", ".join(self._recon_key(k, alias, cast) for k in keys)
        row = f"({row})" if len(keys) > 1 else row

        def below(i: int) -> str:
            vals = ", ".join(f"CAST(%(p_{i}_{j})s AS {k.type_sql})" for j, k in enumerate(keys))
            return f"{row} < ({vals})" if len(keys) > 1 else f"{row} < {vals}"

        def search(a: int, b: int) -> str:  # the bucket among a..b; point i separates bucket i from i + 1
            if a == b:
                return str(a)
            mid = (a + b) // 2
            return f"CASE WHEN {below(mid)} THEN {search(a, mid)} ELSE {search(mid + 1, b)} END"

        return search(0, points)

    def recon_bucket_digest_sql(self, table: TableRef, cols: Sequence[Column], keys: Sequence[Column], where: str,
                                bucket: str, buckets: int, cast: Sequence[str] = (), *,
                                first_key_bounds: bool = False) -> str:
        """Per non-empty bucket of a range (``bucket``: recon_bucket_arith / recon_bucket_case, numbered 0 ..
        ``buckets`` - 1): the bucket, count and the two sums of its rows; with ``first_key_bounds`` also min and
        max of the first key. One read of the range for the figures of all its sub-ranges.

        The rows are grouped through a join with ``generate_series`` of the bucket numbers: the planner then
        knows there are ``buckets`` groups (it counts a bucket expression as distinct as its key and would
        sort every row) and aggregates them in a hash, in parallel workers where it runs them. One bucket:
        the range's own figures, one row even when it is empty."""
        md5 = self.recon_row_md5(cols, "s", cast)
        k = self._recon_key(keys[0], "s", cast)
        extra = ", min(d.k0), max(d.k0)" if first_key_bounds else ""
        k0 = f", {k} AS k0" if first_key_bounds else ""
        if buckets <= 1:
            return f"SELECT 0, count(*), {self._recon_sums()}{extra} FROM (SELECT {md5} AS m{k0} FROM {table.sql} s" \
                   f" WHERE {where}) d"
        return (f"SELECT g.b, count(*), {self._recon_sums()}{extra} FROM generate_series(0, {int(buckets) - 1}) g (b)"
                f" JOIN (SELECT {bucket} AS b, {md5} AS m{k0} FROM {table.sql} s WHERE {where}) d ON d.b = g.b"
                " GROUP BY g.b")

    def recon_key_bounds_sql(self, table: TableRef, keys: Sequence[Column], where: str,
                             cast: Sequence[str] = ()) -> str:
        """Min and max of the first key over a range's rows (for arithmetic splits; from the key's index)."""
        k = self._recon_key(keys[0], "s", cast)
        return f"SELECT min({k}), max({k}) FROM {table.sql} s WHERE {where}"

    def recon_split_keys_sql(self, table: TableRef, keys: Sequence[Column], where: str,
                             cast: Sequence[str] = ()) -> str:
        """The keys of every ``%(step)s``-th row of a range in key order (row 1, 1 + step, ...): split points.
        Reads the keys alone (an index-only scan where the key index covers them)."""
        ks = [self._recon_key(k, "s", cast) for k in keys]
        names = [f"k{i}" for i in range(len(keys))]
        inner = ", ".join(f"{k} AS {n}" for k, n in zip(ks, names))
        return (f"SELECT {', '.join(names)} FROM (SELECT {inner}, row_number() OVER (ORDER BY {', '.join(ks)}) AS rn"
                f" FROM {table.sql} s WHERE {where}) x WHERE mod(rn - 1, %(step)s) = 0 ORDER BY rn")

    def recon_leaf_sql(self, table: TableRef, cols: Sequence[Column], keys: Sequence[Column], where: str,
                       cast: Sequence[str] = ()) -> str:
        """The keys and row md5 of every row of a (small) range."""
        ks = [self._recon_ref(k, "s", cast) for k in keys]
        return f"SELECT {', '.join(ks)}, {self.recon_row_md5(cols, 's', cast)} FROM {table.sql} s WHERE {where}"

    # -- the control tables ---------------------------------------------------------------
    def recon_begin_sql(self, schema: str) -> str:
        return (f"INSERT INTO {_q(schema)}.reconciliations (batch, scope_kind, scope_start, scope_end, key_lo, key_hi,"
                " mode) VALUES (%(batch)s, %(scope_kind)s, %(scope_start)s, %(scope_end)s, %(key_lo)s, %(key_hi)s,"
                " %(mode)s) RETURNING recon_id")

    def recon_finish_sql(self, schema: str) -> str:
        return (f"UPDATE {_q(schema)}.reconciliations SET finished_at = now(), source_rows = %(source_rows)s,"
                " target_rows = %(target_rows)s, ranges_compared = %(ranges_compared)s, missing = %(missing)s,"
                " extra = %(extra)s, changed = %(changed)s, bytes_fetched = %(bytes_fetched)s, status = %(status)s"
                " WHERE recon_id = %(recon_id)s")

    def recon_diff_insert_sql(self, schema: str) -> str:
        return (f"INSERT INTO {_q(schema)}.reconciliation_diffs (recon_id, key_text, kind, source_digest,"
                " target_digest) VALUES (%(recon_id)s, %(key_text)s, %(kind)s, %(source_digest)s, %(target_digest)s)")

    def recon_latest_sql(self, schema: str) -> str:
        return (f"SELECT recon_id, batch, scope_kind, scope_start, scope_end, key_lo, key_hi, mode, started_at,"
                " finished_at, source_rows, target_rows, ranges_compared, missing, extra, changed, bytes_fetched,"
                f" status, repair_run_id FROM {_q(schema)}.reconciliations WHERE batch = %(batch)s"
                " ORDER BY recon_id DESC LIMIT 1")

    def recon_records_sql(self, schema: str) -> str:
        return (f"SELECT d.key_text, d.kind, d.source_digest, d.target_digest, d.checked_at"
                f" FROM {_q(schema)}.reconciliation_diffs d WHERE d.recon_id = %(recon_id)s"
                " ORDER BY d.diff_no LIMIT %(limit)s OFFSET %(offset)s")

    def recon_purge_sql(self, schema: str) -> list[str]:
        """Reconciliations of a batch (and their differing records) started before ``%(before)s``."""
        s = _q(schema)
        old = f"SELECT recon_id FROM {s}.reconciliations WHERE batch = %(batch)s AND started_at < %(before)s"
        return [f"DELETE FROM {s}.reconciliation_diffs WHERE recon_id IN ({old})",
                f"DELETE FROM {s}.reconciliations WHERE batch = %(batch)s AND started_at < %(before)s"]
