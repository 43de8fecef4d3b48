"""The scheduled reconciliation (report mode): the live source against the target, by bisection over key ranges.

Each server digests its own rows as the target stores them (dialects/reconciliation.py: a canonical
text per type, md5 per row, two 60-bit sums of the row md5s per range); only counts, digests, split
keys and, in ranges of at most ``leaf_rows`` rows, (key, row md5) pairs reach the worker. Ranges whose
count and digest agree are never read again; a differing range is split at keys read from the side
with more rows (arithmetic midpoints for a single integer key), so rows present on one side only
are found: a range is bounded by keys, not by row positions. What is compared is in docs/engine.md
("Scheduled reconciliation: the source against the target").

Parallelism: up to ``parallel`` digests (a range on one side) run at once, so the source and the target
digest a range together; each worker thread has hook sessions of its own (a hook's session is never
shared between threads); splits, leaves and the control schema run in the calling thread. Memory: the stack of differing ranges (at most fanout x depth) and one
leaf's keys.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gaussdb_batch.dialects import Column, base_type
from gaussdb_batch.engine.choices import DiffKind, Match, ReconcileScopeKind
from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.control import ensure_control_schema
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.spec import MAX_RETENTION_DAYS
from gaussdb_batch.engine.state import RunStatus
from gaussdb_batch.hooks.dbapi import Connection, one_row
from gaussdb_batch.identifiers import TableRef

log = logging.getLogger("gaussdb_batch.engine.reconciliation")

#: The mode this module runs (repair comes later).
REPORT_MODE = "report"
#: A differing range is split into this many ranges.
FANOUT = 16
_INTEGER_KEYS = ("smallint", "integer", "bigint")


class ReconcileScopeError(ValueError):
    """A scope that cannot be compared (missing bounds, no interval column)."""


@dataclass(frozen=True)
class ReconcileScope:
    kind: ReconcileScopeKind
    #: INTERVALS: rows with source.interval_column / target.interval_column in [start, end).
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    #: KEYS: the first key column in [key_lo, key_hi] (text, cast to the key's type).
    key_lo: str | None = None
    key_hi: str | None = None


@dataclass(frozen=True)
class DiffRecord:
    key: dict[str, Any]
    kind: DiffKind
    source_digest: str | None
    target_digest: str | None


@dataclass(frozen=True)
class ReconcileResult:
    recon_id: int
    scope: ReconcileScope
    source_rows: int
    target_rows: int
    ranges_compared: int
    differences: dict[DiffKind, int]
    records: list[DiffRecord]
    bytes_fetched: int
    seconds: float

    @property
    def equal(self) -> bool:
        return not any(self.differences.values())


#: A key range: lower bound inclusive, upper bound exclusive, None when open.
Bound = tuple[Any, ...] | None
#: (rows, first 60-bit sum, second 60-bit sum) of one side's rows in one range.
Digest = tuple[int, int, int]


@dataclass(frozen=True)
class _Range:
    lo: Bound
    hi: Bound
    source: Digest
    target: Digest

    @property
    def differs(self) -> bool:
        return self.source != self.target

    @property
    def rows(self) -> int:
        return max(self.source[0], self.target[0])


@dataclass(frozen=True)
class _Side:
    """One server's view of the comparison: its table, which columns to cast, its interval column."""

    table: TableRef
    cast: tuple[str, ...]
    interval_column: str | None


class _Plan:
    """What both sides' statements need: the target's columns and keys, the sides, the scope's params."""

    def __init__(self, ctx: BatchContext, scope: ReconcileScope):
        spec = ctx.spec
        if spec.source.table is None or spec.source.conn_id is None:
            raise PermanentBatchError(spec.name, "reconciliation compares a source table: source.table and "
                                                 "source.conn_id are needed")
        self.dialect = ctx.dialect
        self.cols: list[Column] = ctx.columns
        self.keys: list[Column] = ctx.key_columns
        self.scope = scope
        src_interval = tgt_interval = None
        if scope.kind == ReconcileScopeKind.INTERVALS:
            src_interval = spec.source.interval_column
            tgt_interval = spec.target.interval_column or src_interval
            if src_interval is None or tgt_interval is None:
                raise ReconcileScopeError(f"{spec.name}: an interval scope needs source.interval_column")
        source_types = self._source_types(ctx, spec.source.table)
        missing = [c.name for c in self.cols if c.name not in source_types]
        if missing:
            raise PermanentBatchError(spec.name, f"the source {spec.source.table} has no columns {missing}")
        cast = tuple(c.name for c in self.cols if source_types[c.name] != c.type_sql)
        self.source = _Side(spec.source.table, cast, src_interval)
        self.target = _Side(ctx.target, (), tgt_interval)
        self.params: dict[str, Any] = {"start": scope.start, "end": scope.end,
                                       "key_lo": scope.key_lo, "key_hi": scope.key_hi}
        self.integer_key = len(self.keys) == 1 and base_type(self.keys[0].type_sql) in _INTEGER_KEYS

    def _source_types(self, ctx: BatchContext, table: TableRef) -> dict[str, str]:
        sql = self.dialect.table_columns_sql()

        def read(conn: Connection) -> list[tuple]:
            with conn.cursor() as cur:
                cur.execute(sql, {"schema": table.schema, "table": table.name})
                return [tuple(r) for r in cur.fetchall()]

        rows = ctx.source_hook.run_in_transaction(read, purpose=f"{ctx.spec.name}: read the columns of {table}")
        return {r[0]: r[1] for r in rows}

    def where(self, side: _Side, lo: Bound, hi: Bound) -> str:
        return self.dialect.recon_where(self.keys, "s", side.cast, interval_column=side.interval_column,
                                        key_bounds=self.scope.kind == ReconcileScopeKind.KEYS,
                                        lo=lo is not None, hi=hi is not None)

    def range_params(self, lo: Bound, hi: Bound, **more: Any) -> dict[str, Any]:
        params = dict(self.params, **more)
        for name, bound in (("lo", lo), ("hi", hi)):
            for i, v in enumerate(bound or ()):
                params[f"{name}_{i}"] = v
        return params


class _Sessions:
    """Hook sessions per thread: the context's own in the calling thread, fresh ones in workers."""

    def __init__(self, ctx: BatchContext):
        self.ctx = ctx
        self._main = threading.get_ident()
        self._local = threading.local()
        self._made: list[Any] = []
        self._lock = threading.Lock()

    def hook(self, source: bool) -> Any:
        """The current thread's hook of the source (``source``) or of the target."""
        if threading.get_ident() == self._main:
            return self.ctx.source_hook if source else self.ctx.target_hook
        spec = self.ctx.spec
        conn_id = (spec.source.conn_id or spec.target.conn_id) if source else spec.target.conn_id
        hooks = self._local.__dict__.setdefault("hooks", {})
        if conn_id not in hooks:
            hooks[conn_id] = self.ctx._hook_factory(conn_id)
            with self._lock:
                self._made.append(hooks[conn_id])
        return hooks[conn_id]

    def close(self) -> None:
        for hook in self._made:
            hook.close()


class _Walker:
    """The bisection: digests ranges, splits those that differ, compares leaves, writes the differences."""

    def __init__(self, ctx: BatchContext, plan: _Plan, recon_id: int, *, leaf_rows: int, parallel: int, keep: int):
        self.ctx, self.plan, self.recon_id = ctx, plan, recon_id
        self.leaf_rows, self.parallel, self.keep = max(int(leaf_rows), 1), max(int(parallel), 1), max(int(keep), 0)
        self.sessions = _Sessions(ctx)
        self.bytes = 0
        self.ranges = 0
        self.counts = {k: 0 for k in DiffKind}
        self.records: list[DiffRecord] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    # -- statements on one side ----------------------------------------------------------------
    def _fetch(self, source: bool, sql: str, params: dict[str, Any], purpose: str) -> list[tuple]:
        hook = self.sessions.hook(source)

        def read(conn: Connection) -> list[tuple]:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return [tuple(r) for r in cur.fetchall()]

        rows = hook.run_in_transaction(read, purpose=f"{self.ctx.spec.name}: {purpose} on the "
                                                     f"{'source' if source else 'target'}")
        size = sum(_value_bytes(v) for row in rows for v in row)
        with self._lock:
            self.bytes += size
        return rows

    def _sides(self) -> Iterator[tuple[bool, _Side]]:
        yield True, self.plan.source
        yield False, self.plan.target

    def _digest_side(self, lo: Bound, hi: Bound, source: bool) -> Digest:
        p = self.plan
        side = p.source if source else p.target
        sql = p.dialect.recon_range_digest_sql(side.table, p.cols, p.keys, p.where(side, lo, hi), side.cast)
        row = self._fetch(source, sql, p.range_params(lo, hi), "digest a key range")[0]
        return int(row[0]), int(row[1]), int(row[2])

    def digest_many(self, bounds: Sequence[tuple[Bound, Bound]]) -> list[_Range]:
        """Count and digest of each range on both sides: up to ``parallel`` (range, side) at once."""
        tasks = [(lo, hi, source) for lo, hi in bounds for source in (True, False)]
        if self._pool is None:
            found = [self._digest_side(*t) for t in tasks]
        else:
            found = list(self._pool.map(lambda t: self._digest_side(*t), tasks))
        self.ranges += len(bounds)
        return [_Range(lo, hi, found[2 * i], found[2 * i + 1]) for i, (lo, hi) in enumerate(bounds)]

    # -- splitting -------------------------------------------------------------------------------
    def split(self, r: _Range) -> list[tuple[Bound, Bound]]:
        """The sub-ranges of ``r``: FANOUT of about equal rows on the side with more rows."""
        p = self.plan
        is_source = r.source[0] >= r.target[0]
        side = p.source if is_source else p.target
        where = p.where(side, r.lo, r.hi)
        if p.integer_key:
            sql = p.dialect.recon_key_bounds_sql(side.table, p.keys, where, side.cast)
            lo_k, hi_k = self._fetch(is_source, sql, p.range_params(r.lo, r.hi), "read a range's key bounds")[0]
            points = [(v,) for v in _midpoints(int(lo_k), int(hi_k), FANOUT)]
        else:
            step = -(-r.rows // FANOUT)
            sql = p.dialect.recon_split_keys_sql(side.table, p.keys, where, side.cast)
            rows = self._fetch(is_source, sql, p.range_params(r.lo, r.hi, step=step), "read a range's split keys")
            # keys arrive in order; a repeated key (a source without a unique key) is no split point
            points = [tuple(row) for i, row in enumerate(rows) if i and tuple(row) != tuple(rows[i - 1])
                      and tuple(row) != tuple(rows[0])]
        if not points:
            return []
        edges: list[Bound] = [r.lo, *points, r.hi]
        return list(zip(edges[:-1], edges[1:]))

    # -- leaves ------------------------------------------------------------------------------------
    def leaf(self, r: _Range) -> None:
        p = self.plan
        found: list[dict[tuple, list[str]]] = []
        for is_source, side in self._sides():
            sql = p.dialect.recon_leaf_sql(side.table, p.cols, p.keys, p.where(side, r.lo, r.hi), side.cast)
            rows = self._fetch(is_source, sql, p.range_params(r.lo, r.hi), "read a leaf's keys and row digests")
            by_key: dict[tuple, list[str]] = {}
            for row in rows:
                by_key.setdefault(tuple(row[:-1]), []).append(row[-1])
            found.append(by_key)
        src, tgt = found
        diffs: list[DiffRecord] = []
        for key in sorted(src.keys() | tgt.keys(), key=_sort_key):
            # a key repeats only on a source without a unique key: its copies are compared as multisets
            s_only, t_only = _unmatched(src.get(key, []), tgt.get(key, []))
            pairs = list(zip(s_only, t_only))
            records = ([(DiffKind.CHANGED, a, b) for a, b in pairs]
                       + [(DiffKind.MISSING, a, None) for a in s_only[len(pairs):]]
                       + [(DiffKind.EXTRA, None, b) for b in t_only[len(pairs):]])
            diffs += [DiffRecord({k.name: _jsonable(v) for k, v in zip(p.keys, key)}, kind, a, b)
                      for kind, a, b in records]
        if diffs:
            self._store(diffs)

    def _store(self, diffs: list[DiffRecord]) -> None:
        sql = self.plan.dialect.recon_diff_insert_sql(self.ctx.schema)
        params = [{"recon_id": self.recon_id, "key_text": json.dumps(d.key, sort_keys=True), "kind": d.kind.value,
                   "source_digest": d.source_digest, "target_digest": d.target_digest} for d in diffs]

        def insert(conn: Connection) -> None:
            with conn.cursor() as cur:
                cur.executemany(sql, params)

        self.ctx.tx(insert, purpose=f"record {len(diffs)} differing rows of reconciliation {self.recon_id}")
        for d in diffs:
            self.counts[d.kind] += 1
        self.records += diffs[: max(self.keep - len(self.records), 0)]

    # -- the walk ------------------------------------------------------------------------------------
    def run(self) -> tuple[int, int]:
        """Compare the scope; (source rows, target rows) in it."""
        # one pool for the whole walk: its threads, and so their hook sessions, live until the end
        self._pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="reconcile") \
            if self.parallel > 1 else None
        try:
            top = self.digest_many([(None, None)])[0]
            stack = [top] if top.differs else []
            while stack:
                r = stack.pop()
                subs = self.split(r) if r.rows > self.leaf_rows else []
                if not subs:
                    self.leaf(r)
                    continue
                stack += reversed([s for s in self.digest_many(subs) if s.differs])
            return top.source[0], top.target[0]
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self.sessions.close()


def _unmatched(source: list[str], target: list[str]) -> tuple[list[str], list[str]]:
    """The digests of one key on each side that the other side does not have (as multisets)."""
    rest = list(target)
    s_only = []
    for d in source:
        if d in rest:
            rest.remove(d)
        else:
            s_only.append(d)
    return s_only, rest


def _midpoints(lo: int, hi: int, parts: int) -> list[int]:
    """Up to ``parts - 1`` integer split points strictly inside (lo, hi]: ranges [lo, p1), [p1, p2) ... [pk, hi]."""
    span = hi - lo + 1
    points = sorted({lo + span * i // parts for i in range(1, parts)})
    return [v for v in points if lo < v <= hi]


def _sort_key(key: tuple) -> tuple:
    return tuple((v is None, str(type(v)), v if v is not None else 0) for v in key)


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else str(v)
    if isinstance(v, (dt.date, dt.datetime, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    return str(v)


def _value_bytes(v: Any) -> int:
    """The bytes a result value took on the wire, about: its text."""
    if v is None:
        return 0
    if isinstance(v, (bytes, bytearray, memoryview)):
        return len(bytes(v))
    return len(str(v).encode())


def _check_scope(scope: ReconcileScope) -> None:
    if scope.kind == ReconcileScopeKind.INTERVALS:
        if scope.start is None or scope.end is None or not scope.start < scope.end:
            raise ReconcileScopeError("an interval scope needs start < end")
    elif scope.kind == ReconcileScopeKind.KEYS:
        if scope.key_lo is None or scope.key_hi is None:
            raise ReconcileScopeError("a key scope needs key_lo and key_hi")


def reconcile(ctx: BatchContext, scope: ReconcileScope, *, leaf_rows: int = 2000, parallel: int = 2,
              keep: int = 100) -> ReconcileResult:
    """Compare the source's rows of ``scope`` with the target's, record by record, in report mode.

    Every differing row is stored in ``reconciliation_diffs``; the result holds the first ``keep``.
    Reconciliations older than the batch's ``retention_days`` are purged first.
    """
    _check_scope(scope)
    started = time.monotonic()
    plan = _Plan(ctx, scope)
    ensure_control_schema(ctx)
    _purge(ctx)
    d = plan.dialect
    begin = {"batch": ctx.spec.name, "scope_kind": scope.kind.value, "scope_start": scope.start,
             "scope_end": scope.end, "key_lo": scope.key_lo, "key_hi": scope.key_hi, "mode": REPORT_MODE}
    recon_id = int(ctx.tx(lambda conn: _returning(conn, d.recon_begin_sql(ctx.schema), begin),
                          purpose="begin a reconciliation"))
    walker = _Walker(ctx, plan, recon_id, leaf_rows=leaf_rows, parallel=parallel, keep=keep)
    finish: dict[str, Any] = {"recon_id": recon_id, "source_rows": None, "target_rows": None}
    try:
        source_rows, target_rows = walker.run()
    except BaseException:
        finish.update(ranges_compared=walker.ranges, missing=None, extra=None, changed=None,
                      bytes_fetched=walker.bytes, status=RunStatus.FAILED.value)
        ctx.run(d.recon_finish_sql(ctx.schema), finish, purpose=f"mark reconciliation {recon_id} failed")
        raise
    counts = walker.counts
    status = Match.MISMATCH if any(counts.values()) else Match.MATCH
    finish.update(source_rows=source_rows, target_rows=target_rows, ranges_compared=walker.ranges,
                  missing=counts[DiffKind.MISSING], extra=counts[DiffKind.EXTRA], changed=counts[DiffKind.CHANGED],
                  bytes_fetched=walker.bytes, status=status.value)
    ctx.run(d.recon_finish_sql(ctx.schema), finish, purpose=f"finish reconciliation {recon_id}")
    seconds = time.monotonic() - started
    log.info("batch=%s reconciliation %s: %s (source %s rows, target %s, %s ranges, %s bytes, %.2fs)", ctx.spec.name,
             recon_id, {k.value: n for k, n in counts.items()}, source_rows, target_rows, walker.ranges,
             walker.bytes, seconds)
    return ReconcileResult(recon_id, scope, source_rows, target_rows, walker.ranges, dict(counts), walker.records,
                           walker.bytes, seconds)


def _returning(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return one_row(cur, "the reconciliation's insert")[0]


def _purge(ctx: BatchContext) -> None:
    """Drop the batch's reconciliations (and differing records) older than its retention_days."""
    days = min(int(ctx.spec.retention_days), MAX_RETENTION_DAYS)
    params = {"batch": ctx.spec.name, "before": dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)}

    def purge(conn: Connection) -> None:
        with conn.cursor() as cur:
            for sql in ctx.dialect.recon_purge_sql(ctx.schema):
                cur.execute(sql, params)

    ctx.tx(purge, purpose="purge reconciliations past retention")


_LATEST_FIELDS = ("recon_id", "batch", "scope_kind", "scope_start", "scope_end", "key_lo", "key_hi", "mode",
                  "started_at", "finished_at", "source_rows", "target_rows", "ranges_compared", "missing", "extra",
                  "changed", "bytes_fetched", "status")


def _has_tables(ctx: BatchContext) -> bool:
    return ctx.one(ctx.dialect.table_exists_sql(), {"schema": ctx.schema, "table": "reconciliations"},
                   purpose="look for the reconciliations table") is not None


def latest_reconciliation(ctx: BatchContext) -> dict | None:
    """The batch's last reconciliation run row (``differences``: counts per kind), None when it has none."""
    if not _has_tables(ctx):
        return None
    row = ctx.one(ctx.dialect.recon_latest_sql(ctx.schema), {"batch": ctx.spec.name},
                  purpose="read the latest reconciliation")
    if row is None:
        return None
    out = dict(zip(_LATEST_FIELDS, row))
    out["differences"] = {DiffKind.MISSING: out["missing"], DiffKind.EXTRA: out["extra"],
                          DiffKind.CHANGED: out["changed"]}
    return out


def reconciliation_records(ctx: BatchContext, recon_id: int, *, offset: int = 0, limit: int = 50) -> list[dict]:
    """Differing records of one reconciliation in the order found: key (a dict), kind, digests, checked_at."""
    if not _has_tables(ctx):
        return []
    rows = ctx.all(ctx.dialect.recon_records_sql(ctx.schema),
                   {"recon_id": int(recon_id), "offset": max(int(offset), 0), "limit": max(int(limit), 0)},
                   purpose=f"read the differing records of reconciliation {recon_id}")
    return [{"key": json.loads(r[0]), "kind": DiffKind(r[1]), "source_digest": r[2], "target_digest": r[3],
             "checked_at": r[4]} for r in rows]


__all__ = ["DiffRecord", "ReconcileResult", "ReconcileScope", "ReconcileScopeError", "reconcile",
           "latest_reconciliation", "reconciliation_records"]

