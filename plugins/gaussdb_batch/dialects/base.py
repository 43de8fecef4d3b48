"""SQL shapes shared by every server family: the one place that writes SQL text.

Everything here is plain ``str`` SQL with ``%(name)s`` placeholders, valid for both
psycopg2 and the psycopg 3 family. Identifiers are validated and double-quoted;
values are always bound, never pasted. Subclasses override only what differs.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gaussdb_batch.dialects.adaptive_sql import AdaptiveSQL
from gaussdb_batch.dialects.control_schema import ControlSchemaDDL
from gaussdb_batch.dialects.ui_reads import UIReads
from gaussdb_batch.identifiers import TableRef, quote_ident

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


#: The term of a NULL value: outside the range of every value's term (|term| < 2**34), so NULL
#: differs from every value of every type by construction, not by chance.
NULL_TERM = -(2**35)

#: Types hashed by a pg_catalog hash function whose input is the whole value (no folding, no
#: collation): base type name -> function. Anything not listed (and not special-cased in
#: ``value_hash_expr``) hashes a canonical text.
_TYPE_HASH = {"smallint": "hashint4", "integer": "hashint4", "real": "hashfloat4",
              "double precision": "hashfloat8", "uuid": "uuid_hash"}


def base_type(type_sql: str) -> str:
    """``numeric(15,2)`` -> ``numeric``; ``timestamp(0) without time zone`` -> ``timestamp without time zone``."""
    return re.sub(r"\s*\([^)]*\)", "", type_sql).strip().lower()


def _odd_primes(n: int) -> list[int]:
    out: list[int] = []
    k = 3
    while len(out) < n:
        if all(k % p for p in out if p * p <= k):
            out.append(k)
        k += 2
    return out


def _q(name: str) -> str:
    return quote_ident(name)


class Dialect(ControlSchemaDDL, AdaptiveSQL, UIReads):
    """Base dialect: the common subset of PostgreSQL and GaussDB/openGauss.

    The control schema's DDL (``ControlSchemaDDL``) and the adaptive scheduler's statements
    (``AdaptiveSQL``) are mixins in their own modules; every shape is a method of the dialect.
    """

    name = "base"
    #: '' is NULL on the server (GaussDB compatibility mode A): fingerprints must fold them.
    empty_is_null = False
    #: Landing tables have the target's column types (``for_landing(True)``); otherwise they
    #: hold text and every landing-side expression casts to the target's type.
    typed_landing = False
    #: COPY may move rows in binary format (both ends must say so; GaussDB's binary header
    #: differs from PostgreSQL's, so its dialect keeps csv).
    binary_copy = False

    def __init__(self, *, empty_is_null: bool | None = None, distribute_by: Sequence[str] | None = None,
                 skip_locked: bool = True, astore: bool = False, distributed: bool = False):
        if empty_is_null is not None:
            self.empty_is_null = empty_is_null
        #: The server has ``FOR UPDATE SKIP LOCKED`` (openGauss only from 3.1.0).
        self.skip_locked = skip_locked
        #: The server defaults to ustore: this project's tables ask for astore (SKIP LOCKED and
        #: ON DUPLICATE KEY UPDATE exist only there).
        self.astore = astore
        #: The server is a distributed cluster: control tables are replicated to every data node.
        self.distributed = distributed
        self.distribute_by = list(distribute_by or [])
        #: Columns of the target's primary key and unique indexes (read when ``needs_unique_columns``).
        self.unique_columns: list[str] = []

    #: The upsert must know every column of the target's primary key and unique indexes.
    needs_unique_columns = False

    def for_target(self, distribute_by: Sequence[str], unique_columns: Sequence[str] = ()) -> Dialect:
        """This dialect for one target: its distribution key and (when the upsert needs them) the
        columns of its unique indexes. Itself when neither differs."""
        if list(distribute_by) == self.distribute_by and list(unique_columns) == self.unique_columns:
            return self
        other = copy.copy(self)
        other.distribute_by = list(distribute_by)
        other.unique_columns = list(unique_columns)
        return other

    def for_landing(self, typed: bool) -> Dialect:
        """This dialect for a landing table of the target's types (``typed``) or of text columns."""
        if bool(typed) == self.typed_landing:
            return self
        other = copy.copy(self)
        other.typed_landing = bool(typed)
        return other

    def generate_insert_sql(self, table: str, values: Sequence[object], target_fields: Sequence[str] | None,
                            **kwargs: object) -> str:
        """DbApiHook.insert_rows' statement: ``table`` and ``target_fields`` come quoted from the hook."""
        fields = f" ({', '.join(target_fields)})" if target_fields else ""
        return f"INSERT INTO {table}{fields} VALUES ({', '.join(['%s'] * len(values))})"

    # ------------------------------------------------------------------ catalog
    def table_columns_sql(self) -> str:
        """Columns of one table in order; params: schema, table."""
        return (
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory = 'S' "
            "FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE n.nspname = %(schema)s AND c.relname = %(table)s "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        )

    def table_exists_sql(self) -> str:
        """One row when the table exists; params: schema, table (no to_regclass on GaussDB)."""
        return (
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %(schema)s AND c.relname = %(table)s"
        )

    def query_columns_sql(self, query: str) -> str:
        """No rows, only the columns of a spec's source query (params: start, end)."""
        return f"SELECT * FROM ({query}) gb_probe WHERE false"

    def schema_exists_sql(self) -> str:
        return "SELECT 1 FROM pg_namespace WHERE nspname = %(schema)s"

    def create_schema_sql(self, schema: str) -> str:
        # No IF NOT EXISTS: older GaussDB releases lack it; callers probe first.
        return f"CREATE SCHEMA {_q(schema)}"

    # ------------------------------------------------------------------ expressions
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

    def row_hash_expr(self, cols: Sequence[Column], alias: str, *, from_landing: bool) -> str:
        """Order-independent 32-bit row hash (summed per chunk as bigint) with no structural collision.

        Each value becomes a bigint term (``value_term_expr``): its type's hash without the blind
        spots of pg_catalog's hash functions (sign, 0 vs NULL, NaN, 64-bit folding, collation keys,
        trailing spaces), and NULL a constant outside every value's range. The terms are weighted
        by distinct odd primes (a value moved to another column changes the sum) and ``hashint8``
        mixes the sum into int4, so ``sum(int4)`` over a chunk stays in bigint. Both sides hash the
        values the target stores: a text landing's values are first cast to the target's types.
        What it treats as equal, type by type, is in docs/engine.md ("What the fingerprint sees");
        its cost is measured by ``python bench/hash_cost.py``.
        """
        terms = []
        for c, weight in zip(cols, _odd_primes(len(cols))):
            v = f"{alias}.{c.q}"
            if from_landing and not self.typed_landing:
                v = f"CAST({v} AS {c.type_sql})"
            terms.append(f"{self.value_term_expr(c, v)} * {weight}")
        return f"hashint8({' + '.join(terms)})"

    def value_term_expr(self, col: Column, value: str) -> str:
        """``value`` (of ``col``'s type) as a bigint term: ``NULL_TERM`` for NULL, else its hash."""
        return f"(CASE WHEN {value} IS NULL THEN {NULL_TERM} ELSE {self.value_hash_expr(col, value)} END)"

    def value_hash_expr(self, col: Column, value: str) -> str:
        """``value`` (non-NULL, of ``col``'s type) hashed to a bigint in (-2**34, 2**34).

        Values that differ under ``IS DISTINCT FROM`` never hash equal by construction:
        - integers: ``hashint4``; a bigint adds the hash of its high 32 bits to twice ``hashint8``
          (which XOR-folds them into the low ones, so x and 2**32 + (x xor 1) collide there);
        - numeric: ``hash_numeric`` ignores the sign and hashes 0 as -1 and NaN and +-Infinity as 0, so
          the term adds 2**32 times a class (negative, zero, positive, NaN): 1.5 and 1.50 stay equal;
        - real/double: ``hashfloat4``/``hashfloat8`` hash the 8 bytes (-0.0 and 0.0 hash alike, as they
          compare equal; NaN and the infinities are distinct);
        - strings: byte-exact, ``COLLATE "C"`` (a nondeterministic or B-format collation would hash
          its collation keys) and a final '.' appended by ``textcat`` (openGauss's
          ``string_hash_compatible`` trims trailing spaces before hashing; ``||`` is OR under dolphin); char(n) keeps ``hashbpchar``, padding being no part of it;
        - date: its day number; timestamps: ``timestamp_hash`` (which folds 64 bits the way hashint8
          does) plus the hash of the epoch, a timestamptz at UTC; no cast to a bare ``timestamp``
          (with openGauss's dolphin plugin that is timestamptz(0));
        - bytea: its hex text; everything else (time, interval, json, jsonb, arrays, enums, ...): its text.
        """
        base = base_type(col.type_sql)
        if base == "bigint":
            # Weighted 2:1 so the two hashes never trade places: hashint8 is hash_uint32 of the
            # folded halves and hashint4 of the high half, so an equal-weight sum made
            # 2**63 - 1 and -2**63 collide (each one's fold is the other's high half).
            return (f"(2 * CAST(hashint8({value}) AS bigint)"
                    f" + hashint4(CAST({value} >> 32 AS integer)))")
        if base == "numeric":
            return (f"(CAST(hash_numeric({value}) AS bigint) + 4294967296 * CASE WHEN {value} < 0 THEN -1"
                    f" WHEN {value} = 'NaN' THEN 2 WHEN {value} > 0 THEN 1 ELSE 0 END)")
        if base in ("character", "bpchar"):
            return f"hashbpchar({value} COLLATE \"C\")"
        if col.is_string or base in ("character varying", "text"):
            return self._text_hash(f"CAST({value} AS text)")
        if base == "date":
            # A date is a day number: exact and cheap (the text or to_char cost 3-40x as much).
            # +-infinity are terms no day has.
            return (f"CASE WHEN isfinite({value}) THEN hashint4(CAST({value} - DATE '2000-01-01' AS integer))"
                    f" WHEN {value} > DATE '2000-01-01' THEN 8589934592 ELSE -8589934592 END")
        if base in ("timestamp without time zone", "timestamp with time zone"):
            ts = f"({value} AT TIME ZONE 'UTC')" if base == "timestamp with time zone" else value
            # timestamp_hash XOR-folds the microseconds' high 32 bits into the low ones; the epoch
            # (float8, exact to well under a millisecond for every valid timestamp) tells such
            # partners apart, which lie 35 minutes or more apart; the two together tell every pair.
            return (f"(CAST(timestamp_hash({ts}) AS bigint)"
                    f" + coalesce(hashfloat8(date_part('epoch', {ts})), 0))")
        if base == "bytea":
            return self._text_hash(f"encode({value}, 'hex')")
        fn = _TYPE_HASH.get(base)
        if fn is not None:
            return f"{fn}({value})"
        return self._text_hash(f"CAST({value} AS text)")

    @staticmethod
    def _text_hash(text: str) -> str:
        """A text's bytes hashed: no collation keys, trailing spaces counted."""
        return f"hashtext(textcat({text} COLLATE \"C\", '.'))"

    # ------------------------------------------------------------------ control schema
    # DDL and migrations: ControlSchemaDDL (control_schema.py).
    def advisory_xact_lock_sql(self) -> str:
        return "SELECT pg_advisory_xact_lock(%(key)s)"

    # ------------------------------------------------------------------ runs
    def interval_lock_sql(self) -> str:
        """A transaction-scoped lock on one (batch, interval): begins of one interval serialize."""
        return "SELECT pg_advisory_xact_lock(%(key)s)"

    def latest_run_sql(self, schema: str) -> str:
        """The newest attempt at an interval and its owner; params: batch, start, end."""
        return (
            f"SELECT run_id, attempt, status, owner_dag_id, dag_run_id FROM {_q(schema)}.runs "
            "WHERE batch = %(batch)s AND interval_start = %(start)s AND interval_end = %(end)s "
            "ORDER BY attempt DESC LIMIT 1"
        )

    def insert_run_sql(self, schema: str) -> str:
        return (
            f"INSERT INTO {_q(schema)}.runs (batch, interval_start, interval_end, attempt, status,"
            " owner_dag_id, dag_run_id, target_table, mode, lease_seconds, lease_until) VALUES (%(batch)s,"
            " %(start)s, %(end)s, %(attempt)s, %(status)s, %(owner_dag_id)s, %(dag_run_id)s, %(target)s,"
            f" %(mode)s, %(lease_seconds)s, {self._lease_end()}) RETURNING run_id"
        )

    def _lease_end(self) -> str:
        return "clock_timestamp() + CAST(%(lease_seconds)s AS integer) * interval '1 second'"

    def lock_run_sql(self, schema: str, *, exclusive: bool) -> str:
        """The run's status and owner, row-locked: shared by concurrent lanes, exclusive for a takeover.

        Every write of an attempt runs this first in its own transaction (fencing): a takeover's
        exclusive lock waits for the writes in flight, and writes after it see the new owner.
        """
        return (
            f"SELECT status, owner_dag_id, dag_run_id, batch FROM {_q(schema)}.runs WHERE run_id = %(run_id)s"
            f" FOR {'UPDATE' if exclusive else 'SHARE'}"
        )

    def renew_lease_sql(self, schema: str) -> str:
        """Extend the owner's lease while the run is in one of the allowed statuses; params: run_id,
        owner_dag_id, dag_run_id, lease_seconds, allowed (a list). One row when still owned."""
        return (
            f"UPDATE {_q(schema)}.runs SET lease_until = {self._lease_end()}, lease_seconds = %(lease_seconds)s"
            " WHERE run_id = %(run_id)s AND owner_dag_id = %(owner_dag_id)s AND dag_run_id = %(dag_run_id)s"
            " AND status = ANY(%(allowed)s)"
        )

    def lease_facts_sql(self, schema: str) -> str:
        """What decides whether an owner is alive: its lease, its newest chunk commit, the server clock."""
        s = _q(schema)
        return (
            f"SELECT r.lease_until, (SELECT max(c.finished_at) FROM {s}.chunks c WHERE c.run_id = r.run_id),"
            f" r.lease_seconds, clock_timestamp() FROM {s}.runs r WHERE r.run_id = %(run_id)s"
        )

    def take_over_run_sql(self, schema: str) -> str:
        """Hand an attempt to a new owner with a fresh lease; params: run_id, status, owner, lease_seconds."""
        return (
            f"UPDATE {_q(schema)}.runs SET owner_dag_id = %(owner_dag_id)s, dag_run_id = %(dag_run_id)s,"
            f" status = %(status)s, message = NULL, lease_seconds = %(lease_seconds)s,"
            f" lease_until = {self._lease_end()} WHERE run_id = %(run_id)s"
        )

    def runs_of_dag_run_sql(self, schema: str) -> str:
        """Run ids a DAG run owns (began or took over), newest first; params: batch, owner_dag_id, dag_run_id."""
        return (
            f"SELECT run_id, status FROM {_q(schema)}.runs WHERE batch = %(batch)s"
            " AND owner_dag_id = %(owner_dag_id)s AND dag_run_id = %(dag_run_id)s ORDER BY run_id DESC"
        )

    def get_run_sql(self, schema: str) -> str:
        return (
            f"SELECT run_id, batch, interval_start, interval_end, attempt, status, target_table, mode,"
            f" rows_extracted, rows_loaded, rows_rejected, chunks_total, started_at, extracted_at,"
            f" finished_at, message FROM {_q(schema)}.runs WHERE run_id = %(run_id)s"
        )

    def update_run_sql(self, schema: str, fields: Sequence[str]) -> str:
        sets = ", ".join(f"{_q(f)} = %({f})s" for f in fields)
        return f"UPDATE {_q(schema)}.runs SET {sets} WHERE run_id = %(run_id)s"

    def later_runs_touching_keys_sql(self, schema: str, undo: TableRef, keys: Sequence[Column],
                                     landing: TableRef | None = None) -> str:
        """Runs after ``run_id`` of the same target whose undo journal shares a key with it.

        The run's keys are its journal's and, with ``landing``, the keys it landed (and so
        inserted or overwrote), rejected rows excluded.
        """
        knames = ", ".join(k.q for k in keys)
        mine = f"SELECT {knames} FROM {undo.sql} WHERE {_q(UNDO_RUN)} = %(run_id)s"
        if landing is not None:
            kvals = ", ".join(f"{self.cast_expr(k)} AS {k.q}" for k in keys)
            mine += f" UNION ALL SELECT {kvals} FROM {landing.sql} s WHERE {self._not_rejected(schema)}"
        match = " AND ".join(f"u2.{k.q} = u1.{k.q}" for k in keys)
        return (
            f"SELECT DISTINCT u2.{_q(UNDO_RUN)} FROM ({mine}) u1 JOIN {undo.sql} u2 ON {match} "
            f"JOIN {_q(schema)}.runs r ON r.run_id = u2.{_q(UNDO_RUN)} "
            f"WHERE u2.{_q(UNDO_RUN)} > %(run_id)s AND r.status <> %(compensated)s"
        )

    # ------------------------------------------------------------------ landing
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

    def distribution_clause(self, cols: Sequence[Column]) -> str:
        return ""

    def storage_clause(self) -> str:
        """``WITH (storage_type = astore)`` where the server would make the table ustore."""
        return " WITH (storage_type = astore)" if self.astore else ""

    def control_table_clause(self) -> str:
        """What every control table's CREATE TABLE ends with: astore, replicated on a distributed
        cluster (its primary key and unique constraints share no column, which a hash-distributed
        table cannot have)."""
        return self.storage_clause() + (" DISTRIBUTE BY REPLICATION" if self.distributed else "")

    def landing_index_sql(self, landing: TableRef) -> str:
        """Unique on the sequence; on a distributed target the distribution key leads (a unique index
        there must contain it)."""
        cols = ", ".join([_q(c) for c in self.distribute_by] + [_q(SEQ)])
        return f"CREATE UNIQUE INDEX {_q(landing.name + '_seq')} ON {landing.sql} ({cols})"

    def analyze_sql(self, table: TableRef, columns: Sequence[str] = ()) -> str:
        cols = f" ({', '.join(_q(c) for c in columns)})" if columns else ""
        return f"ANALYZE {table.sql}{cols}"

    def unique_columns_sql(self) -> str:
        """Names of the columns in any primary key or unique index of a table; params: schema, table."""
        return (
            "SELECT DISTINCT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) "
            "WHERE ns.nspname = %(schema)s AND c.relname = %(table)s AND i.indisunique AND a.attnum > 0 "
            "ORDER BY a.attname"
        )

    def unique_indexes_sql(self) -> str:
        """Primary key and unique indexes of a table as ``indkey`` text ("1 4"); params: schema, table."""
        return (
            "SELECT CAST(i.indkey AS text) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "WHERE ns.nspname = %(schema)s AND c.relname = %(table)s AND i.indisunique AND i.indpred IS NULL"
        )

    def index_columns_sql(self) -> str:
        """Every valid, non-partial index of a table as ``indkey`` text ("1 4"); params: schema, table."""
        return (
            "SELECT CAST(i.indkey AS text) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "WHERE ns.nspname = %(schema)s AND c.relname = %(table)s AND i.indpred IS NULL"
        )

    def column_numbers_sql(self) -> str:
        """attnum -> name of a table's columns; params: schema, table."""
        return (
            "SELECT a.attnum, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "WHERE ns.nspname = %(schema)s AND c.relname = %(table)s AND a.attnum > 0 AND NOT a.attisdropped"
        )

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
    ) -> str:
        """Rows of one interval, numbered, as they are (typed landing) or as text; params: start, end.

        ``query`` is a user SQL whose interval placeholders are %(start)s / %(end)s. Rows of one
        key are numbered by ``tie_break`` descending, so the first of them holds the greatest.
        """
        text_cols = ", ".join(f"q.{c.q}" if self.typed_landing else f"CAST(q.{c.q} AS text)" for c in cols)
        order = ", ".join([f"q.{_q(k)}" for k in order_by] + [f"q.{_q(t)} DESC NULLS LAST" for t in tie_break])
        numbered = f"row_number() OVER ({'ORDER BY ' + order if order else ''})"
        if table is not None:
            if interval_column is None:
                src = f"SELECT * FROM {table.sql}"
            else:
                ic = _q(interval_column)
                src = f"SELECT * FROM {table.sql} WHERE {ic} >= %(start)s AND {ic} < %(end)s"
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

    # ------------------------------------------------------------------ chunks
    def delete_run_rows_sql(self, schema: str, table: str) -> str:
        return f"DELETE FROM {_q(schema)}.{_q(table)} WHERE run_id = %(run_id)s"

    def insert_chunk_sql(self, schema: str) -> str:
        return (
            f"INSERT INTO {_q(schema)}.chunks (run_id, chunk_no, seq_lo, seq_hi, key_lo, key_hi, status,"
            " rows_in) VALUES (%(run_id)s, %(chunk_no)s, %(seq_lo)s, %(seq_hi)s, %(key_lo)s,"
            " %(key_hi)s, %(status)s, %(rows_in)s)"
        )

    def claim_chunk_sql(self, schema: str) -> str:
        """The next pending chunk, locked by this lane; others skip it (one indexed row lock).

        The server's clock stamps the start, like the finish: chunk timings share one clock.
        """
        return (
            f"SELECT chunk_no, seq_lo, seq_hi, key_lo, key_hi, clock_timestamp() FROM {_q(schema)}.chunks "
            "WHERE run_id = %(run_id)s AND status = %(pending)s "
            "ORDER BY chunk_no LIMIT 1 FOR UPDATE SKIP LOCKED"
        )

    def pending_chunks_sql(self, schema: str) -> str:
        """Pending chunk numbers in order: the candidates of a claim without SKIP LOCKED."""
        return (f"SELECT chunk_no FROM {_q(schema)}.chunks WHERE run_id = %(run_id)s AND status = %(pending)s"
                " ORDER BY chunk_no")

    def claim_chunk_by_lock_sql(self, schema: str) -> str:
        """Claim one given chunk without SKIP LOCKED (openGauss before 3.1.0): one row or none.

        A chunk another lane holds fails ``pg_try_advisory_xact_lock`` (key run_id, chunk_no) and
        is passed over without waiting; one that lane committed meanwhile is re-checked by
        ``FOR UPDATE`` (its status is no longer pending), so two lanes never get one chunk.
        """
        return (
            f"SELECT chunk_no, seq_lo, seq_hi, key_lo, key_hi, clock_timestamp() FROM {_q(schema)}.chunks "
            "WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s AND status = %(pending)s "
            "AND pg_try_advisory_xact_lock(CAST(%(run_id)s AS integer), chunk_no) FOR UPDATE"
        )

    def finish_chunk_sql(self, schema: str) -> str:
        return (
            f"UPDATE {_q(schema)}.chunks SET status = %(status)s, rows_written = %(rows_written)s,"
            " rows_inserted = %(rows_inserted)s, rows_updated = %(rows_updated)s,"
            " rows_rejected = %(rows_rejected)s, lane = %(lane)s, loads = loads + 1,"
            " started_at = %(started_at)s, finished_at = clock_timestamp()"
            " WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s"
        )

    def chunk_progress_sql(self, schema: str) -> str:
        return (
            f"SELECT count(*), sum(CASE WHEN status = %(done)s THEN 1 ELSE 0 END),"
            " coalesce(sum(rows_in), 0) FROM "
            f"{_q(schema)}.chunks WHERE run_id = %(run_id)s"
        )

    def chunk_totals_sql(self, schema: str) -> str:
        return (
            "SELECT count(*), sum(CASE WHEN status <> %(done)s THEN 1 ELSE 0 END),"
            " coalesce(sum(rows_written), 0), coalesce(sum(rows_rejected), 0)"
            f" FROM {_q(schema)}.chunks WHERE run_id = %(run_id)s"
        )

    def list_chunks_sql(self, schema: str) -> str:
        return (
            f"SELECT chunk_no, seq_lo, seq_hi, key_lo, key_hi, status FROM {_q(schema)}.chunks"
            " WHERE run_id = %(run_id)s ORDER BY chunk_no"
        )

    def set_chunk_status_sql(self, schema: str) -> str:
        return (
            f"UPDATE {_q(schema)}.chunks SET status = %(status)s"
            " WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s"
        )

    def run_rejects_count_sql(self, schema: str) -> str:
        return f"SELECT count(*) FROM {_q(schema)}.rejects WHERE run_id = %(run_id)s"

    def insert_reject_sql(self, schema: str) -> str:
        return (
            f"INSERT INTO {_q(schema)}.rejects (run_id, chunk_no, seq, stage, key_text, row_text,"
            " sqlstate, message) VALUES (%(run_id)s, %(chunk_no)s, %(seq)s, %(stage)s, %(key_text)s,"
            " %(row_text)s, %(sqlstate)s, %(message)s)"
        )

    # ------------------------------------------------------------------ writing a chunk
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

    def target_size_sql(self) -> str:
        """What sizes a chunk's plans: reltuples and relpages at the last ANALYZE, the table's pages now.

        Params: schema, table. Rows now are estimated in Python as the planner does (density times
        current pages): no integer division in SQL (openGauss would return float8).
        """
        return (
            "SELECT c.reltuples, c.relpages, pg_relation_size(c.oid), current_setting('block_size') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %(schema)s AND c.relname = %(table)s"
        )

    def savepoint_sql(self, name: str) -> str:
        return f"SAVEPOINT {_q(name)}"

    def rollback_to_savepoint_sql(self, name: str) -> str:
        return f"ROLLBACK TO SAVEPOINT {_q(name)}"

    def release_savepoint_sql(self, name: str) -> str:
        return f"RELEASE SAVEPOINT {_q(name)}"

    def _range_pred(self, alias: str = "s") -> str:
        return f"{alias}.{_q(SEQ)} BETWEEN %(lo)s AND %(hi)s"

    def _not_rejected(self, schema: str, alias: str = "s") -> str:
        return (
            f"NOT EXISTS (SELECT 1 FROM {_q(schema)}.rejects r WHERE r.run_id = %(run_id)s"
            f" AND r.seq = {alias}.{_q(SEQ)})"
        )

    def _not_journaled(self, undo: TableRef, keys: Sequence[Column], alias: str, *, cast_right: bool) -> str:
        """The run has no journal entry yet for the key of row ``alias`` (``cast_right`` for landed text).

        ``OFFSET 0`` keeps the probe a per-row index lookup instead of an anti join over the
        run's whole journal (see capture_undo_sql).
        """
        return (
            f"NOT EXISTS (SELECT 1 FROM {undo.sql} u WHERE u.{_q(UNDO_RUN)} = %(run_id)s"
            f" AND {self.key_match(keys, 'u', alias, cast_right=cast_right)} OFFSET 0)"
        )

    def staged_select(self, landing: TableRef, cols: Sequence[Column]) -> str:
        """The chunk's landed rows converted to the target's types."""
        casts = ", ".join(f"{self.cast_expr(c)} AS {c.q}" for c in cols)
        return f"SELECT {casts} FROM {landing.sql} s WHERE {self._range_pred()}"

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
        """Journal a chunk before it writes: before-images of the target rows it will overwrite ('U').

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

    def journal_landed_keys_sql(self, schema: str, undo: TableRef, landing: TableRef, keys: Sequence[Column]) -> str:
        """Before a landing is replaced: its loaded keys that have no journal entry become 'I' entries.

        Compensation finds the keys a run inserted in its landing; a re-extract drops that landing
        while rows it loaded stay in the target, so their keys move into the journal first.
        Params: run_id, compensated (the chunk status that needs no undo).
        """
        knames = ", ".join(k.q for k in keys)
        kvals = ", ".join(self.cast_expr(k) for k in keys)
        return (
            f"INSERT INTO {undo.sql} ({_q(UNDO_RUN)}, {_q(UNDO_CHUNK)}, {_q(UNDO_OP)}, {knames}) "
            f"SELECT %(run_id)s, c.chunk_no, 'I', {kvals} FROM {_q(schema)}.chunks c JOIN {landing.sql} s"
            f" ON s.{_q(SEQ)} BETWEEN c.seq_lo AND c.seq_hi WHERE c.run_id = %(run_id)s AND c.loads > 0"
            f" AND c.status <> %(compensated)s AND {self._not_rejected(schema)}"
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

    def _vanished(self, target: TableRef, landing: TableRef, keys: Sequence[Column], interval_column: str) -> str:
        """Target rows of the run's interval whose key the source no longer has."""
        ic = _q(interval_column)
        return (
            f"t.{ic} >= %(start)s AND t.{ic} < %(end)s AND NOT EXISTS (SELECT 1 FROM {landing.sql} s"
            f" WHERE {self.key_match(keys, 't', 's', cast_right=True)})"
        )

    def capture_purge_sql(self, undo: TableRef, target: TableRef, landing: TableRef, cols: Sequence[Column],
                          keys: Sequence[Column], interval_column: str) -> str:
        """delete_insert mode: before-images of the interval's rows that vanished at the source."""
        names = ", ".join(c.q for c in cols)
        tcols = ", ".join(f"t.{c.q}" for c in cols)
        return (
            f"INSERT INTO {undo.sql} ({_q(UNDO_RUN)}, {_q(UNDO_CHUNK)}, {_q(UNDO_OP)}, {names}) "
            f"SELECT %(run_id)s, %(chunk_no)s, 'U', {tcols} FROM {target.sql} t "
            f"WHERE {self._vanished(target, landing, keys, interval_column)} "
            f"AND {self._not_journaled(undo, keys, 't', cast_right=False)}"
        )

    def purge_interval_sql(self, target: TableRef, landing: TableRef, keys: Sequence[Column],
                           interval_column: str) -> str:
        """delete_insert mode: delete the interval's rows that vanished at the source."""
        return f"DELETE FROM {target.sql} t WHERE {self._vanished(target, landing, keys, interval_column)}"

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

    # ------------------------------------------------------------------ checks
    def _chunk_of_seq(self) -> str:
        """Which chunk of a group of consecutive, equal-sized chunks a landed row is in, as the
        offset of that chunk's first seq from the group's (``_per_chunk`` turns it into the number).

        Integer ``mod()`` per row, never ``/`` between integers: on openGauss ``int / int`` is
        float8, which would give every row a group of its own and blind the check; ``div()`` on
        numeric is exact but costs numeric arithmetic per row, so it runs once per group only.
        """
        off = f"(s.{_q(SEQ)} - %(lo)s)"
        return f"{off} - mod({off}, %(size)s)"

    def _per_chunk(self, hashed_rows: str) -> str:
        """Chunk number, count and summed hash per chunk of ``SELECT <chunk offset> AS g, <row hash> AS h ...``.

        ``OFFSET 0`` keeps the rows hashed before they are grouped: the grouping then carries
        two numbers per row, not every column (a sort of whole rows spills to disk).
        """
        return (f"SELECT %(first)s + CAST(div(q.g, %(size)s) AS bigint), count(*), coalesce(sum(q.h), 0)"
                f" FROM ({hashed_rows} OFFSET 0) q GROUP BY q.g")

    def landing_fingerprints_sql(self, schema: str, landing: TableRef, cols: Sequence[Column]) -> str:
        """Per chunk of a group: count and summed row hash of the landed rows, rejects excluded.

        Params: run_id, first (chunk number), lo/hi (the group's seq range), size (chunk rows).
        A read-only SELECT, so the server may run it in parallel (the plan stores its figures).
        """
        return self._per_chunk(
            f"SELECT {self._chunk_of_seq()} AS g, {self.row_hash_expr(cols, 's', from_landing=True)} AS h "
            f"FROM {landing.sql} s WHERE {self._range_pred()} AND {self._not_rejected(schema)}"
        )

    def store_landing_fingerprints_sql(self, schema: str, chunks: int) -> str:
        """At plan time: the landed count and summed hash of ``chunks`` chunks, onto their chunk rows.

        Params: run_id, and c<i>, n<i>, h<i> (chunk number, rows, hash) for i < chunks: the figures of
        landing_fingerprints_sql, computed in the plan's transaction while the landing is hot; the
        check then reads the landing side from the plan instead of scanning the landing again.
        """
        values = ", ".join(f"(%(c{i})s, %(n{i})s, %(h{i})s)" for i in range(chunks))
        return (
            f"UPDATE {_q(schema)}.chunks c SET land_rows = f.n, land_hash = f.h FROM (VALUES {values})"
            " AS f (chunk_no, n, h) WHERE c.run_id = %(run_id)s AND c.chunk_no = f.chunk_no"
        )

    def stored_fingerprints_sql(self, schema: str) -> str:
        """The landing side stored at plan time (NULL when the plan did not store it)."""
        return (f"SELECT chunk_no, land_rows, land_hash FROM {_q(schema)}.chunks WHERE run_id = %(run_id)s"
                " AND chunk_no BETWEEN %(first)s AND %(last)s")

    def rejected_fingerprints_sql(self, schema: str, landing: TableRef, cols: Sequence[Column]) -> str:
        """Count and summed hash per chunk of the landed rows rejected since the plan (driven by the rejects)."""
        return self._per_chunk(
            f"SELECT {self._chunk_of_seq()} AS g, {self.row_hash_expr(cols, 's', from_landing=True)} AS h "
            f"FROM {landing.sql} s WHERE s.{_q(SEQ)} IN (SELECT r.seq FROM {_q(schema)}.rejects r"
            f" WHERE r.run_id = %(run_id)s AND r.seq BETWEEN %(lo)s AND %(hi)s)"
        )

    def target_fingerprints_sql(self, schema: str, target: TableRef, landing: TableRef,
                                cols: Sequence[Column], keys: Sequence[Column], *, rejects: bool = True) -> str:
        """Per chunk of a group: count and summed row hash of the target rows its keys point at.

        ``rejects=False`` for a run without rejects: no probe of the rejects table per landed row."""
        not_rejected = f" AND {self._not_rejected(schema)}" if rejects else ""
        return self._per_chunk(
            f"SELECT {self._chunk_of_seq()} AS g, {self.row_hash_expr(cols, 't', from_landing=False)} AS h "
            f"FROM {landing.sql} s JOIN {target.sql} t ON {self.key_match(keys, 't', 's', cast_right=True)} "
            f"WHERE {self._range_pred()}{not_rejected}"
        )

    def interval_extra_fingerprint_sql(self, target: TableRef, landing: TableRef, cols: Sequence[Column],
                                       keys: Sequence[Column], interval_column: str) -> str:
        """delete_insert: count and summed row hash of the interval's target rows whose key the run did
        not land (rows the purge chunk deletes): the whole interval is the run's, so any is a mismatch.
        Params: start, end (the run's interval)."""
        return (f"SELECT count(*), coalesce(sum({self.row_hash_expr(cols, 't', from_landing=False)}), 0) "
                f"FROM {target.sql} t WHERE {self._vanished(target, landing, keys, interval_column)}")

    def _run_rows(self, schema: str, target: TableRef, landing: TableRef, keys: Sequence[Column]) -> str:
        """FROM/WHERE of the target rows this run loaded (keys in its landing, rejects excluded)."""
        return (
            f"FROM {target.sql} t WHERE EXISTS (SELECT 1 FROM {landing.sql} s WHERE"
            f" {self._not_rejected(schema)} AND {self.key_match(keys, 't', 's', cast_right=True)})"
        )

    def run_rows_query(self, schema: str, target: TableRef, landing: TableRef, keys: Sequence[Column],
                       run_id: int) -> str:
        """A standalone SELECT of the rows a run loaded, for tools that cannot bind (expectation suites)."""
        rid = int(run_id)
        return f"SELECT t.* {self._run_rows(schema, target, landing, keys)}".replace("%(run_id)s", str(rid))

    def count_run_rows_sql(self, schema: str, target: TableRef, landing: TableRef, keys: Sequence[Column],
                           violation: str) -> str:
        """Rows the run loaded that meet ``violation`` (built by the ``*_violation`` methods)."""
        return f"SELECT count(*) {self._run_rows(schema, target, landing, keys)} AND ({violation})"

    def not_null_violation(self, column: str) -> str:
        return f"t.{_q(column)} IS NULL"

    def range_violation(self, column: str, *, has_min: bool, has_max: bool) -> str:
        parts = []
        if has_min:
            parts.append(f"t.{_q(column)} < %(min)s")
        if has_max:
            parts.append(f"t.{_q(column)} > %(max)s")
        return " OR ".join(parts) or "1 = 0"

    def duplicate_run_keys_sql(self, schema: str, target: TableRef, landing: TableRef,
                               keys: Sequence[Column], columns: Sequence[str]) -> str:
        """How many of the run's rows share ``columns`` with another of its rows."""
        cols = ", ".join(f"t.{_q(c)}" for c in columns)
        return (
            f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n {self._run_rows(schema, target, landing, keys)}"
            f" GROUP BY {cols} HAVING count(*) > 1) d"
        )

    def table_fingerprint_sql(self, table: TableRef, cols: Sequence[Column], where: str = "") -> str:
        """Count and summed row hash of a whole table (or a filtered part of it)."""
        cond = f" WHERE {where}" if where else ""
        return (
            f"SELECT count(*), coalesce(sum({self.row_hash_expr(cols, 't', from_landing=False)}), 0) "
            f"FROM {table.sql} t{cond}"
        )

    def insert_reconciliation_sql(self, schema: str) -> str:
        return (
            f"INSERT INTO {_q(schema)}.reconciliation (run_id, chunk_no, pass, key_lo, key_hi,"
            " source_rows, target_rows, source_hash, target_hash, status) VALUES (%(run_id)s,"
            " %(chunk_no)s, %(pass)s, %(key_lo)s, %(key_hi)s, %(source_rows)s, %(target_rows)s,"
            " %(source_hash)s, %(target_hash)s, %(status)s)"
        )

    def insert_quality_result_sql(self, schema: str) -> str:
        """One validated expectation suite of a run (``result`` is its JSON summary)."""
        return (
            f"INSERT INTO {_q(schema)}.quality_results (run_id, suite, success, evaluated, failed, result)"
            " VALUES (%(run_id)s, %(suite)s, %(success)s, %(evaluated)s, %(failed)s, %(result)s)"
        )

    # ------------------------------------------------------------------ compensation
    def compensate_delete_sql(self, target: TableRef, undo: TableRef, keys: Sequence[Column]) -> str:
        """Remove the rows of a chunk's journal entries (rows it overwrote, keys journaled at re-extract)."""
        return (
            f"DELETE FROM {target.sql} t WHERE EXISTS (SELECT 1 FROM {undo.sql} u"
            f" WHERE u.{_q(UNDO_RUN)} = %(run_id)s AND u.{_q(UNDO_CHUNK)} = %(chunk_no)s"
            f" AND {self.key_match(keys, 'u', 't', cast_right=False)})"
        )

    def compensate_delete_landed_sql(self, schema: str, target: TableRef, landing: TableRef,
                                     keys: Sequence[Column]) -> str:
        """Remove the rows a loaded chunk wrote: its landed keys, rejected rows excluded; params: lo, hi."""
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

    def chunk_loads_sql(self, schema: str) -> str:
        """How often a chunk was loaded before (0 on its first load)."""
        return f"SELECT loads FROM {_q(schema)}.chunks WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s"

    def compensate_restore_sql(self, target: TableRef, undo: TableRef, cols: Sequence[Column]) -> str:
        """Put back the before-images of the rows the chunk overwrote or deleted."""
        names = ", ".join(c.q for c in cols)
        ucols = ", ".join(f"u.{c.q}" for c in cols)
        return (
            f"INSERT INTO {target.sql} ({names}) SELECT {ucols} FROM {undo.sql} u"
            f" WHERE u.{_q(UNDO_RUN)} = %(run_id)s AND u.{_q(UNDO_CHUNK)} = %(chunk_no)s"
            f" AND u.{_q(UNDO_OP)} = 'U'"
        )

    def undo_chunks_sql(self, undo: TableRef) -> str:
        return (
            f"SELECT DISTINCT {_q(UNDO_CHUNK)} FROM {undo.sql} WHERE {_q(UNDO_RUN)} = %(run_id)s"
            f" ORDER BY {_q(UNDO_CHUNK)}"
        )

    def purge_undo_sql(self, undo: TableRef) -> str:
        return f"DELETE FROM {undo.sql} WHERE {_q(UNDO_RUN)} = %(run_id)s"

    def mark_chunk_undone_sql(self, undo: TableRef) -> str:
        """Forget a compensated chunk's journal so compensating again is a no-op."""
        return (
            f"DELETE FROM {undo.sql} WHERE {_q(UNDO_RUN)} = %(run_id)s"
            f" AND {_q(UNDO_CHUNK)} = %(chunk_no)s"
        )

    def expired_runs_sql(self, schema: str) -> str:
        return (
            f"SELECT run_id, target_table FROM {_q(schema)}.runs WHERE batch = %(batch)s"
            " AND finished_at < %(before)s AND status = ANY(%(finished)s) AND purged_at IS NULL"
        )
