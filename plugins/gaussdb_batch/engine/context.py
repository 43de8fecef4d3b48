"""What every engine step needs about one batch: its hooks, dialect, tables and columns."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from gaussdb_batch.dialects import Column, Dialect, GaussDBDialect
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.spec import BatchSpec
from gaussdb_batch.engine.owner import ADHOC, Owner
from gaussdb_batch.identifiers import MAX_IDENT_BYTES, TableRef
from gaussdb_batch.hooks.dbapi import Connection, Cursor

if TYPE_CHECKING:
    from gaussdb_batch.hooks.gaussdb import GaussDBHook

T = TypeVar("T")
log = logging.getLogger("gaussdb_batch.engine")

#: Advisory lock key of control-schema DDL and batch_state writes (a constant, never changed).
CONTROL_LOCK_KEY = 0x6762_6174_6368  # "gbatch"


def _short_name(prefix: str, *parts: str) -> str:
    """A table name within the 63-byte limit that stays unique (hash suffix when cut)."""
    name = prefix + "__".join(parts)
    if len(name.encode()) <= MAX_IDENT_BYTES:
        return name
    digest = hashlib.md5(name.encode()).hexdigest()[:10]
    return name[: MAX_IDENT_BYTES - 11] + "_" + digest


class BatchContext:
    """One batch's view of its target database; cheap to build, connects lazily.

    ``hook_factory`` makes a GaussDBHook for a conn id (tests pass their own).
    """

    def __init__(self, spec: BatchSpec, hook_factory: Callable[[str], Any] | None = None, *,
                 owner: Owner | None = None):
        self.spec = spec
        self._hook_factory = hook_factory or _default_hook_factory
        self._in_tx = False
        #: run_id -> whether its landing has the target's types (None: there is no landing).
        self._landing_typed: dict[int, bool | None] = {}
        #: The source has a unique index on the batch's keys (set by extract): no key repeats.
        self.source_keys_unique = False
        #: The last upsert chunk this process wrote found none of its keys in the target (a first
        #: load, a new interval): the next one tries a plain INSERT before any undo capture. A
        #: performance hint only; a key that exists makes the INSERT fail and the chunk is upserted.
        self.keys_were_new = True
        #: The DAG run this process acts for (engine.state.Owner); it owns the attempts it begins.
        self.owner = owner or ADHOC
        #: The pre-flight passed in this process (its key-index check included): extract does not
        #: read the target's indexes a second time.
        self.preflight_passed = False

    # -- connections -----------------------------------------------------------------
    @cached_property
    def target_hook(self) -> GaussDBHook:
        return self._hook_factory(self.spec.target.conn_id)

    @cached_property
    def source_hook(self) -> GaussDBHook:
        if self.spec.source.conn_id is None:
            raise PermanentBatchError(self.spec.name, "the source has no conn_id")
        if self.spec.source.conn_id == self.spec.target.conn_id:
            return self.target_hook
        return self._hook_factory(self.spec.source.conn_id)

    def close(self) -> None:
        for name in ("target_hook", "source_hook"):
            hook = self.__dict__.get(name)
            if hook is not None:
                hook.close()

    @cached_property
    def dialect(self) -> Dialect:
        """The target hook's dialect, for this batch's target (its distribution key, and the columns
        of its unique indexes where the upsert must leave them alone)."""
        base = self.target_hook.dialect
        unique: list[str] = []
        if base.needs_unique_columns:
            rows = self.all(base.unique_columns_sql(), {"schema": self.target.schema, "table": self.target.name},
                            purpose=f"read the unique-index columns of {self.target}")
            unique = [r[0] for r in rows]
        distribute_by = list(self.spec.target.distribute_by)
        if base.caps.distributed and isinstance(base, GaussDBDialect):
            distribute_by = self._catalog_distribution_key(base, distribute_by)
        if distribute_by:
            log.warning("%s: target.distribute_by is experimental: distributed GaussDB targets have not been "
                        "run against a real cluster (see docs/connection.md)", self.spec.name)
        return base.for_target(distribute_by, unique)

    def _catalog_distribution_key(self, base: GaussDBDialect, declared: list[str]) -> list[str]:
        """The target's distribution key as the cluster's catalog has it (``pgxc_class.pcattnum``); the
        spec's ``target.distribute_by`` only when the catalog has no entry for the target."""
        params = {"schema": self.target.schema, "table": self.target.name}
        rows = self.all(base.distribution_key_sql(), params, purpose=f"read the distribution of {self.target}")
        if not rows:
            return declared
        numbers = {int(n): name for n, name in self.all(base.column_numbers_sql(), params,
                                                           purpose=f"read the columns of {self.target}")}
        actual = distribution_columns(str(rows[0][0] or ""), str(rows[0][1] or ""), numbers)
        if actual != declared:
            log.warning("%s: the target %s is distributed by %s in the catalog; the spec's target.distribute_by "
                        "says %s: the catalog's key is used", self.spec.name, self.target, actual or "replication",
                        declared)
        return actual

    def tx(self, fn: Callable[[Connection], T], *, purpose: str) -> T:
        """One transaction on the target, with the hook's retries of transient errors.

        Transactions never nest: the hook reuses one session, so an inner commit would end
        the outer transaction and release its locks (a claimed chunk could then be claimed
        twice). Anything cached lazily must be read before a transaction starts.
        """
        if self._in_tx:
            raise RuntimeError(f"{self.spec.name}: nested transaction for {purpose!r} (read metadata first)")
        self._in_tx = True
        try:
            return self.target_hook.run_in_transaction(fn, purpose=f"{self.spec.name}: {purpose}")
        finally:
            self._in_tx = False

    def outside_tx(self, sql: str, *, purpose: str) -> None:
        """One statement in autocommit on the target, never inside a transaction block (ANALYZE)."""
        if self._in_tx:
            raise RuntimeError(f"{self.spec.name}: {purpose!r} must run outside any transaction")
        self.target_hook.run_outside_transaction(sql, purpose=f"{self.spec.name}: {purpose}")

    # -- one statement, DbApiHook-shaped ---------------------------------------------
    def one(self, sql: str, params: dict | None = None, *, purpose: str) -> tuple | None:
        """The first row of one statement, in its own transaction (with the hook's retries)."""
        return self.tx(lambda conn: _execute(conn, sql, params, "one"), purpose=purpose)

    def all(self, sql: str, params: dict | None = None, *, purpose: str) -> list[tuple]:
        """Every row of one statement, in its own transaction."""
        return self.tx(lambda conn: _execute(conn, sql, params, "all"), purpose=purpose)

    def run(self, sql: str, params: dict | None = None, *, purpose: str) -> int:
        """Run one statement that returns no rows; its row count."""
        return self.tx(lambda conn: _execute(conn, sql, params, "run"), purpose=purpose)

    def prepare(self) -> BatchContext:
        """Read the catalog facts every step uses (dialect, columns, keys), outside any transaction."""
        _ = self.dialect, self.columns, self.key_columns, self.undo
        return self

    # -- plans -------------------------------------------------------------------------
    def size_plans(self, cur: Cursor, rows: int) -> bool:
        """Set a chunk transaction's plan settings for ``rows`` landed rows; True when pinned to index probes.

        Pinned while the rows are a small share (under 1/PIN_SHARE) of the target's estimated rows
        now; free (set-based plans) when they are a large share, as in a first load or a backfill.
        """
        cur.execute(self.dialect.target_size_sql(), {"schema": self.target.schema, "table": self.target.name})
        row = cur.fetchone()
        pinned = True
        if row is not None:
            pinned = rows * PIN_SHARE < estimated_rows(*row)
        cur.execute(self.dialect.chunk_plan_settings_sql(pinned))
        return pinned

    # -- tables ------------------------------------------------------------------------
    @property
    def schema(self) -> str:
        return self.spec.control_schema

    @property
    def target(self) -> TableRef:
        return self.spec.target.table

    @cached_property
    def undo(self) -> TableRef:
        return TableRef(self.schema, _short_name("undo_", self.target.schema, self.target.name))

    def landing(self, run_id: int) -> TableRef:
        return TableRef(self.schema, f"land_{int(run_id)}")

    def key_set(self, run_id: int) -> TableRef:
        """A repair run's differing keys (engine/repair.py), next to its landing."""
        return TableRef(self.schema, f"land_{int(run_id)}_keys")

    def landing_layout(self, run_id: int) -> bool | None:
        """True when the run's landing has the target's column types, False for text, None when absent.

        Read from the catalog once per run (outside any transaction), so a lane, the check and
        compensation agree with whatever the extract built, after a restart or a takeover too.
        """
        if run_id not in self._landing_typed:
            landing = self.landing(run_id)
            rows = self.all(self.dialect.table_columns_sql(), {"schema": landing.schema, "table": landing.name},
                            purpose=f"read the columns of {landing}")
            self._landing_typed[run_id] = layout_of(self.columns, rows)
        return self._landing_typed[run_id]

    def landing_layout_known(self, run_id: int) -> bool:
        """True when this process built the run's landing typed (no catalog read: safe inside a transaction)."""
        return self._landing_typed.get(run_id) is True

    def set_landing_layout(self, run_id: int, typed: bool | None) -> None:
        """What the extract just built (or dropped), so this process never reads it back."""
        self._landing_typed[run_id] = typed

    def landing_dialect(self, run_id: int) -> Dialect:
        """The dialect whose landing-side expressions fit the run's landing (no casts when typed)."""
        return self.dialect.for_landing(bool(self.landing_layout(run_id)))

    @cached_property
    def source_column_types(self) -> dict[str, str]:
        """Name -> type of the source table's columns, read once from the source's catalog."""
        table = self.spec.source.table
        if table is None:
            raise PermanentBatchError(self.spec.name, "the source has no table to read the column types of")
        hook = self.source_hook
        sql = hook.dialect.table_columns_sql()

        def read(conn: Connection) -> dict[str, str]:
            with conn.cursor() as cur:
                cur.execute(sql, {"schema": table.schema, "table": table.name})
                return {r[0]: r[1] for r in cur.fetchall()}

        return hook.run_in_transaction(read, purpose=f"{self.spec.name}: read the column types of {table}")

    @cached_property
    def columns(self) -> list[Column]:
        """The target's columns, read from the catalog; keys must be among them."""
        dialect = self.dialect

        rows = self.all(dialect.table_columns_sql(), {"schema": self.target.schema, "table": self.target.name},
                        purpose=f"read the columns of {self.target}")
        cols = [Column(r[0], r[1], bool(r[2])) for r in rows]
        if not cols:
            raise PermanentBatchError(
                self.spec.name, f"target table {self.target} does not exist (create it before the first run)"
            )
        names = {c.name for c in cols}
        missing = [k for k in self.spec.keys if k not in names]
        if missing:
            raise PermanentBatchError(
                self.spec.name, f"key columns {missing} are not columns of {self.target} (has {sorted(names)})"
            )
        return cols

    @cached_property
    def key_columns(self) -> list[Column]:
        by_name = {c.name: c for c in self.columns}
        keys = [by_name[k] for k in self.spec.keys]
        strings = [k.name for k in keys if k.is_string]
        if strings and self.dialect.caps.empty_is_null:
            log.warning(
                "%s: key columns %s are strings and the target runs in sql_compatibility A: an empty key is "
                "stored as NULL (it can never match, and a NOT NULL key rejects it) and char(n) keys compare "
                "blank-padded; prefer non-empty or numeric keys, or a database created with DBCOMPATIBILITY 'PG'",
                self.spec.name, strings)
        return keys

    def key_text(self, row: dict[str, Any] | Sequence[Any]) -> str:
        if isinstance(row, dict):
            return ",".join("" if row.get(k) is None else str(row.get(k)) for k in self.spec.keys)
        return ",".join("" if v is None else str(v) for v in row)


#: Plans stay pinned to index probes while a chunk is under 1/PIN_SHARE of its target's rows.
PIN_SHARE = 4
#: Rows per page assumed for a table never analyzed with rows in it (lineitem-like rows: ~60).
DEFAULT_ROWS_PER_PAGE = 50


def estimated_rows(reltuples: float, relpages: int, size_bytes: int, block_size: str) -> float:
    """The table's rows now, as the planner estimates them: the density of the last ANALYZE times pages now."""
    pages = int(size_bytes or 0) // max(int(block_size or 8192), 1)
    reltuples, relpages = float(reltuples or 0), int(relpages or 0)
    density = reltuples / relpages if relpages > 0 and reltuples > 0 else DEFAULT_ROWS_PER_PAGE
    return density * pages


def distribution_columns(pcattnum: str, locator_type: str, numbers: dict[int, str]) -> list[str]:
    """The hash distribution key named by ``pgxc_class`` (``pcattnum`` text such as "1 3", in key order);
    empty for a replicated or round-robin table."""
    if locator_type.upper() != "H":
        return []
    return [numbers[int(n)] for n in pcattnum.split() if int(n) in numbers]


def layout_of(columns: Sequence[Column], landing_rows: Sequence[tuple]) -> bool | None:
    """A landing's layout from its catalog rows (name, type): typed, text, or None when it does not exist."""
    if not landing_rows:
        return None
    types = {r[0]: r[1] for r in landing_rows}
    return all(types.get(c.name) == c.type_sql for c in columns)


def _execute(conn: Connection, sql: str, params: dict | None, shape: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        if shape == "one":
            return cur.fetchone()
        if shape == "all":
            return cur.fetchall()
        return max(cur.rowcount or 0, 0)


def _default_hook_factory(conn_id: str) -> Any:
    from gaussdb_batch.hooks.gaussdb import GaussDBHook

    return GaussDBHook(gaussdb_conn_id=conn_id)
