"""The scheduled reconciliation: the live source against the target, by bisection over key ranges (no writes;
repair mode re-syncs what it finds afterwards, engine/repair.py).

Each server digests its own rows as the target stores them (dialects/reconciliation.py: a canonical
text per type, md5 per row, two 60-bit sums of the row md5s per range); only counts, digests, first-key
bounds, split keys and, in small ranges, (key, row md5) pairs reach the worker. What is compared is in
docs/engine.md ("Scheduled reconciliation: the source against the target").

The walk reads a range once per side and gets the figures of all its sub-ranges at once: one
statement groups the range's rows by a bucket number computed from the cut (arithmetic on an
integer first key: floor((k - lo) * n / span); otherwise a binary search of nested CASEs over row
comparisons with split keys), so the scope is read once (its sub-ranges about ``leaf_rows`` rows each,
at most MAX_FANOUT) and each differing sub-range once more, cut into sub-ranges of about
min(sqrt(rows), leaf_rows / FANOUT) rows; a differing range of at most leaf_rows / FANOUT rows (or one
key) is a leaf, whose keys and row md5s are compared. Cuts come from the key index: the scope's min and
max of an integer first key (then each bucket's own min and max, returned with its figures; bounds on
that column alone), else every n-th key of the side with more rows (keys alone, an index-only read
where the key index covers them). Ranges are bounded by keys, never row positions, and the outer ones
are open (rows beyond the cut's keys fall in the outer buckets), so a row on one side only is always
in a range both sides count. ``ranges_compared`` counts the ranges read (one statement a side each).

Parallelism: the ranges of one level (and ``parallel`` leaves at a time) are read by up to ``parallel``
worker threads, each with hook sessions of its own (a hook's session is never shared between threads);
comparisons and the control schema run in the calling thread. Memory: the differing ranges of one level
and ``parallel`` leaves' keys.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import math
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
#: The first level's sub-ranges when the planner has no row estimate of the tables.
FANOUT = 16
#: At most this many sub-ranges of one range (one read of the range returns all their figures).
MAX_FANOUT = 1024
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
        source_types = ctx.source_column_types
        missing = [c.name for c in self.cols if c.name not in source_types]
        if missing:
            raise PermanentBatchError(spec.name, f"the source {spec.source.table} has no columns {missing}")
        cast = tuple(c.name for c in self.cols if source_types[c.name] != c.type_sql)
        self.source = _Side(spec.source.table, cast, src_interval)
        self.target = _Side(ctx.target, (), tgt_interval)
        self.params: dict[str, Any] = {"start": scope.start, "end": scope.end,
                                       "key_lo": scope.key_lo, "key_hi": scope.key_hi}
        self.integer_key = len(self.keys) == 1 and base_type(self.keys[0].type_sql) in _INTEGER_KEYS

    def where(self, side: _Side, lo: Bound, hi: Bound) -> str:
        """A bound holds every key column or a prefix of them (a cut on the first key alone)."""
        return self.dialect.recon_where(self.keys, "s", side.cast, interval_column=side.interval_column,
                                        key_bounds=self.scope.kind == ReconcileScopeKind.KEYS,
                                        lo=len(lo or ()), hi=len(hi or ()))

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


@dataclass(frozen=True)
class _Todo:
    """A key range to read once per side, its sub-ranges' figures with it."""

    lo: Bound
    hi: Bound
    #: its rows on the side with more (an estimate for the scope), 0 when not known
    rows: int
    #: min and max of an integer first key over both sides' rows of the range, None when not known
    first: tuple[int, int] | None
    #: read split keys from the source (else the target): the side with more rows
    source_more: bool = True


@dataclass(frozen=True)
class _Split:
    """How a range is cut: the bucket expression, its params, and bucket i's range [edges[i], edges[i + 1])."""

    todo: _Todo
    #: "one" (a single bucket: the range's own figures), "arith" (an integer first key) or "case" (split keys)
    kind: str
    params: dict[str, Any]
    edges: list[Bound]


#: One bucket's figures on one side: rows, the two sums, min and max of an integer first key (else None).
_Bucket = tuple[int, int, int, Any, Any]
_EMPTY: _Bucket = (0, 0, 0, None, None)


class _Walker:
    """The bisection: reads each differing range once per side with the figures of all its sub-ranges, cuts
    the differing sub-ranges again, compares leaves, writes the differences."""

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
        self.first_integer = base_type(plan.keys[0].type_sql) in _INTEGER_KEYS
        #: a differing range of at most this many rows is compared row by row
        self.leaf_max = max(self.leaf_rows // FANOUT, 1)

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

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        """``fn`` over ``items``: up to ``parallel`` at once on the worker threads (each with its own sessions)."""
        if self._pool is None or len(items) < 2:
            return [fn(i) for i in items]
        return list(self._pool.map(fn, items))

    def _side(self, source: bool) -> _Side:
        return self.plan.source if source else self.plan.target

    # -- sizes and split points ----------------------------------------------------------------
    def _estimate(self) -> int:
        """The planner's row estimate of the larger table (reltuples scaled to its pages now), 0 if unknown."""
        best = 0
        for source in (True, False):
            table = self._side(source).table
            rows = self._fetch(source, self.plan.dialect.target_size_sql(), {"schema": table.schema,
                                                                            "table": table.name},
                               "read the table's row estimate")
            if not rows:
                continue
            tuples, pages, size, block = (float(v or 0) for v in rows[0])
            est = tuples / pages * (size / block) if tuples > 0 and pages > 0 and block > 0 else max(tuples, 0)
            best = max(best, int(est))
        return best

    def _first_bounds(self, source: bool) -> tuple[Any, Any]:
        p = self.plan
        side = self._side(source)
        sql = p.dialect.recon_key_bounds_sql(side.table, p.keys, p.where(side, None, None), side.cast)
        return self._fetch(source, sql, p.range_params(None, None), "read the scope's first key bounds")[0]

    def _fanout(self, rows: int, top: bool) -> int:
        """Sub-ranges of a range of ``rows``, at most MAX_FANOUT: about ``leaf_rows`` rows each for the scope
        (an equal scope moves the figures of rows / leaf_rows sub-ranges; FANOUT without an estimate, one
        range for a scope of at most leaf_rows); below, about min(sqrt(rows), leaf_rows / FANOUT) rows each:
        they come out as leaves, and a difference costs about as many sub-ranges' figures as leaf rows."""
        if top:
            if rows <= 0:
                return FANOUT
            return 1 if rows <= self.leaf_rows else min(MAX_FANOUT, -(-rows // self.leaf_rows))
        return max(2, min(MAX_FANOUT, max(math.isqrt(rows - 1) + 1, -(-rows // self.leaf_max))))

    def _split(self, t: _Todo, top: bool) -> _Split | None:
        """How to cut ``t``: arithmetic on an integer first key that varies in it, else split keys read from the
        side with more rows; None when it cannot be cut (one key: a leaf). The scope itself is always read."""
        sp = self._cut(t, top)
        return _Split(t, "one", {}, [t.lo, t.hi]) if sp is None and top else sp

    def _cut(self, t: _Todo, top: bool) -> _Split | None:
        p = self.plan
        n = self._fanout(t.rows, top)
        if n == 1:
            return _Split(t, "one", {}, [t.lo, t.hi])
        if t.first is not None and t.first[0] < t.first[1]:
            lo_k, hi_k = t.first
            span = hi_k - lo_k + 1
            n = min(n, span)
            edges: list[Bound] = [t.lo, *[(lo_k + (b * span + n - 1) // n,) for b in range(1, n)], t.hi]
            return _Split(t, "arith", {"b_lo": lo_k, "b_span": span, "b_n": n}, edges)
        if t.first is not None and len(p.keys) == 1:
            return None  # one integer key value: nothing to cut
        if t.rows <= 0:
            return None  # no estimate: the scope is read whole first, its rows then size the cut
        step = -(-t.rows // n)
        side = self._side(t.source_more)
        sql = p.dialect.recon_split_keys_sql(side.table, p.keys, p.where(side, t.lo, t.hi), side.cast)
        rows = self._fetch(t.source_more, sql, p.range_params(t.lo, t.hi, step=step), "read a range's split keys")
        # keys arrive in order; a repeated key (a source without a unique key) is no split point
        points = [tuple(row) for i, row in enumerate(rows) if i and tuple(row) != tuple(rows[i - 1])
                  and tuple(row) != tuple(rows[0])]
        if not points:
            return None
        params = {f"p_{i}_{j}": v for i, pt in enumerate(points) for j, v in enumerate(pt)}
        return _Split(t, "case", params, [t.lo, *points, t.hi])

    # -- one read of a range per side --------------------------------------------------------------
    def _buckets(self, task: tuple[_Split, bool]) -> dict[int, _Bucket]:
        sp, source = task
        p = self.plan
        side = self._side(source)
        if sp.kind == "case":
            bucket = p.dialect.recon_bucket_case(p.keys, "s", len(sp.edges) - 2, side.cast)
        elif sp.kind == "arith":
            bucket = p.dialect.recon_bucket_arith(p.keys, "s", side.cast)
        else:
            bucket = "0"
        sql = p.dialect.recon_bucket_digest_sql(side.table, p.cols, p.keys, p.where(side, sp.todo.lo, sp.todo.hi),
                                                bucket, len(sp.edges) - 1, side.cast,
                                                first_key_bounds=self.first_integer)
        rows = self._fetch(source, sql, p.range_params(sp.todo.lo, sp.todo.hi, **sp.params),
                           "digest a key range's sub-ranges")
        out: dict[int, _Bucket] = {}
        for row in rows:
            if not row[1]:
                continue  # the figures of an empty range (one bucket)
            lo_k, hi_k = (row[4], row[5]) if self.first_integer else (None, None)
            out[int(row[0])] = (int(row[1]), int(row[2]), int(row[3]), lo_k, hi_k)
        return out

    # -- leaves ------------------------------------------------------------------------------------
    def _leaf_rows(self, task: tuple[Bound, Bound, bool]) -> list[tuple]:
        lo, hi, source = task
        p = self.plan
        side = self._side(source)
        sql = p.dialect.recon_leaf_sql(side.table, p.cols, p.keys, p.where(side, lo, hi), side.cast)
        return self._fetch(source, sql, p.range_params(lo, hi), "read a leaf's keys and row digests")

    def leaves(self, ranges: Sequence[tuple[Bound, Bound]]) -> None:
        """Compare leaves: ``parallel`` of them read at once (their keys are what the worker holds)."""
        for i in range(0, len(ranges), self.parallel):
            chunk = ranges[i:i + self.parallel]
            found = self._map(self._leaf_rows, [(lo, hi, source) for lo, hi in chunk for source in (True, False)])
            for j, (lo, hi) in enumerate(chunk):
                if not self.leaf(found[2 * j], found[2 * j + 1]):
                    # its figures differ, its keys' rows do not: rows the key bounds leave out (NULL keys)
                    log.warning("batch=%s reconciliation %s: the range [%s, %s) differs but none of its rows do "
                                "(NULL keys are not compared)", self.ctx.spec.name, self.recon_id, lo, hi)

    def leaf(self, source_rows: list[tuple], target_rows: list[tuple]) -> int:
        """Compare a leaf's rows of both sides, store its differing records; how many."""
        p = self.plan
        found: list[dict[tuple, list[str]]] = []
        for rows in (source_rows, target_rows):
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
        return len(diffs)

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
        """Compare the scope, level by level; (source rows, target rows) in it."""
        # one pool for the whole walk: its threads, and so their hook sessions, live until the end
        self._pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="reconcile") \
            if self.parallel > 1 else None
        try:
            first = None
            if self.first_integer:
                bounds = self._map(self._first_bounds, [True, False])
                lows = [int(b[0]) for b in bounds if b[0] is not None]
                highs = [int(b[1]) for b in bounds if b[1] is not None]
                first = (min(lows), max(highs)) if lows else None
            level = [_Todo(None, None, self._estimate(), first)]
            totals = (0, 0)
            top = True
            depth = 0
            while level:
                started = time.monotonic()
                cuts = self._map(lambda t, top=top: self._split(t, top), level)
                splits = [sp for sp in cuts if sp is not None]
                leaves = [(t.lo, t.hi) for t, sp in zip(level, cuts) if sp is None]
                found = self._map(self._buckets, [(sp, source) for sp in splits for source in (True, False)])
                self.ranges += len(splits)
                nxt: list[_Todo] = []
                for i, sp in enumerate(splits):
                    src, tgt = found[2 * i], found[2 * i + 1]
                    if not set(src) | set(tgt) <= set(range(len(sp.edges) - 1)):  # rows outside every sub-range
                        raise RuntimeError(f"{self.ctx.spec.name}: a range's buckets {sorted(set(src) | set(tgt))}"
                                           f" do not match its {len(sp.edges) - 1} sub-ranges")
                    if top:
                        totals = (sum(b[0] for b in src.values()), sum(b[0] for b in tgt.values()))
                    for b in range(len(sp.edges) - 1):
                        s, t = src.get(b, _EMPTY), tgt.get(b, _EMPTY)
                        if s[:3] == t[:3]:
                            continue
                        lo, hi = sp.edges[b], sp.edges[b + 1]
                        rows = max(s[0], t[0])
                        if rows <= self.leaf_max:
                            leaves.append((lo, hi))
                            continue
                        mins = [v[3] for v in (s, t) if v[3] is not None]
                        maxs = [v[4] for v in (s, t) if v[4] is not None]
                        nxt.append(_Todo(lo, hi, rows, (int(min(mins)), int(max(maxs))) if mins else None,
                                         s[0] >= t[0]))
                read = time.monotonic()
                self.leaves(leaves)
                log.info("batch=%s reconciliation %s, level %s: %s ranges read (%.2fs, %s sub-ranges), %s leaves "
                         "compared (%.2fs), %s ranges differ below", self.ctx.spec.name, self.recon_id, depth,
                         len(splits), read - started, sum(len(sp.edges) - 1 for sp in splits), len(leaves),
                         time.monotonic() - read, len(nxt))
                level, top, depth = nxt, False, depth + 1
            return totals
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
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(v).hex()  # bytea's hex input form: a repair casts it back to the key
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
              keep: int = 100, mode: str = REPORT_MODE) -> ReconcileResult:
    """Compare the source's rows of ``scope`` with the target's, record by record; change nothing.

    Every differing row is stored in ``reconciliation_diffs``; the result holds the first ``keep``.
    ``mode`` is recorded with the run: ``repair`` when a repair run (engine.repair) follows it.
    Reconciliations older than the batch's ``retention_days`` are purged first.
    """
    _check_scope(scope)
    started = time.monotonic()
    plan = _Plan(ctx, scope)
    ensure_control_schema(ctx)
    _purge(ctx)
    d = plan.dialect
    begin = {"batch": ctx.spec.name, "scope_kind": scope.kind.value, "scope_start": scope.start,
             "scope_end": scope.end, "key_lo": scope.key_lo, "key_hi": scope.key_hi, "mode": mode}
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
                  "changed", "bytes_fetched", "status", "repair_run_id")


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

