"""Direct chunks: chunks planned as key ranges on the source; each lane reads its own ranges.

The landing path lands the whole interval with one COPY before any lane starts, and every row is
written twice (landing, then target). A direct run instead plans its chunks on the source, as
ranges of the first key (integers): one read of the interval in key order (the key index's
order) returns the first key of every ``chunk_rows``-th row, where the ranges begin, and the
interval's row count and greatest key. The outer ranges are
open, so every key of the interval has exactly one chunk, whenever it appears. Extract then only
creates the (empty) landing and writes the plan; the lanes read the source in parallel, one
source session each.

One chunk is one transaction on the target, as always (claim, write, journal, DONE, commit),
plus one REPEATABLE READ transaction on the lane's source session, so all of the chunk's source
reads see one snapshot. How it was written is ``chunks.way`` (``Way``):

1. ``straight``: the target holds no row of the range (an index probe). The rows go from the
   source straight into the target with COPY, once; the target's fingerprint of the range, read
   right after on the server that received them, is the check's landed side (its count must be
   the COPY's, else another writer's rows are in the range and the chunk is staged), and the keys
   go into the landing, from the same read where the server can (a data-modifying WITH);
2. ``identical``: the source's fingerprint of the range equals the target's (compared only
   between servers that compute one hash, and skipped for the next ranges after one differed):
   nothing is written or journaled (the chunk is marked exact), only the keys are landed;
3. ``staged``: otherwise, or when the straight COPY fails (a key that arrived since, a row the
   target refuses): the rows are landed and written by the engine's upsert (engine.load: the
   journal of what changes, bisection of bad rows to the rejects).

Direct chunks apply where every condition holds: a table source with a unique index on the keys,
a first key of an integer type, source and target in different databases, mode upsert, every
source column of exactly the target's type, a GaussDB target that parses numbers strictly (not
sql_compatibility B, whose COPY turns bad number text into 0), and the spec's ``load_path`` is
``auto``. Anything else lands the interval first (``direct_reason``). Between two PostgreSQL
servers of one major version with binary-safe types, rows move in binary and the identical-range
test runs (both servers compute one row hash); otherwise rows move in csv and a pre-filled range
is always staged (GaussDB's MERGE then leaves its identical rows alone).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gaussdb_batch.dialects import SEQ, GaussDBDialect
from gaussdb_batch.dialects.base import base_type
from gaussdb_batch.engine import state
from gaussdb_batch.engine.choices import LoadMode, LoadPath, SourceKind
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.hooks.dbapi import Connection, Cursor, one_row

#: Seqs of the landing per direct chunk: chunk c owns ((c-1)·SPAN, c·SPAN]; its landed rows are the
#: first ones. Equal spans keep the check's per-chunk grouping of consecutive chunks.
SEQ_SPAN = 1 << 31
KEY_MIN, KEY_MAX = -(1 << 63), (1 << 63) - 1
INTEGER_KEYS = frozenset({"smallint", "integer", "bigint"})


def direct_reason(ctx: BatchContext) -> str | None:
    """None when the run's chunks may be key ranges read by the lanes; else why the interval is landed first."""
    from gaussdb_batch.engine.landing import binary_copy

    spec, src = ctx.spec, ctx.spec.source
    if spec.load_path == LoadPath.LANDING:
        return "load_path is landing"
    if src.kind != SourceKind.TABLE or src.table is None:
        return "the source is not a table"
    if spec.same_db:
        return "source and target share a database (INSERT ... SELECT)"
    if spec.mode != LoadMode.UPSERT:
        return f"mode {spec.mode.value}"
    if not ctx.source_keys_unique:
        return "the source has no unique index on exactly the keys"
    if base_type(ctx.key_columns[0].type_sql) not in INTEGER_KEYS:
        return f"the first key {ctx.key_columns[0].name} is not an integer"
    if binary_copy(ctx, True):
        return None
    types = ctx.source_column_types
    differ = [c.name for c in ctx.columns if types.get(c.name) != c.type_sql]
    if differ:
        return f"source columns {', '.join(differ)} have another type than the target's"
    d = ctx.dialect
    if isinstance(d, GaussDBDialect) and not d.lands_typed(ctx.columns):
        return "the target casts bad number text to 0 (sql_compatibility B): rows are landed as text and checked"
    return None


# ----------------------------------------------------------------------------- the plan
def split_ranges(cuts: list[int], rows: int, chunk_rows: int) -> list[tuple[int, int, int]]:
    """Ranges (key_from, key_to, planned rows) from the first key of every ``chunk_rows``-th row of the
    interval, in key order: chunk i holds the keys from cut i up to the next cut, the outer ends open.
    A first key shared by more rows than a chunk (a multi-column key) repeats a cut: that chunk
    holds all of them."""
    starts = sorted(set(cuts))
    ranges = []
    for i, a in enumerate(starts):
        b = starts[i + 1] - 1 if i + 1 < len(starts) else KEY_MAX
        ranges.append([a, b, 0])
    if not ranges:
        return []
    ranges[0][0] = KEY_MIN
    # Planned rows: chunk_rows per cut taken, the rest in the last chunk (exact for a unique first key).
    left = rows
    for i, a in enumerate(starts):
        n = cuts.count(a) * chunk_rows
        ranges[i][2] = min(n, left) if i + 1 < len(starts) else left
        left -= ranges[i][2]
    return [(a, b, n) for a, b, n in ranges]


def _source_reads(ctx: BatchContext, start: dt.datetime, end: dt.datetime,
                  chunk_rows: int) -> tuple[int, list[tuple[int, int, int]], tuple[int, int] | None]:
    """(rows, ranges, (min, max) of the first key) of the interval, read on the source in one snapshot."""
    d, src = ctx.dialect, ctx.spec.source
    table, first, ic = src.table, ctx.key_columns[0].name, src.interval_column
    assert table is not None

    def read(conn: Connection) -> tuple[int, list[tuple[int, int, int]], tuple[int, int] | None]:
        with conn.cursor() as cur:
            cur.execute(d.source_key_cuts_sql(table, first, ic), {"start": start, "end": end, "every": chunk_rows})
            rows = cur.fetchall()
        if not rows:
            return 0, [], None
        n, kmax = int(rows[-1][1]), int(rows[-1][0])
        cuts = [int(k) for k, rn, _ in rows if (int(rn) - 1) % chunk_rows == 0]
        return n, split_ranges(cuts, n, chunk_rows), (cuts[0], kmax)

    return ctx.source_hook.run_in_transaction(read, purpose=f"{ctx.spec.name}: plan the chunks on the source")


def plan_direct(ctx: BatchContext, run_id: int, start: dt.datetime, end: dt.datetime) -> tuple[int, int, int]:
    """Create the run's empty landing and plan its chunks as key ranges of the source; (rows, chunks, chunk_rows).

    The rows are the source's count at plan time; each chunk reads its range when a lane loads it.
    """
    from gaussdb_batch.engine.control import chunk_rows_in
    from gaussdb_batch.engine.landing import prepare_landing

    d, landing = ctx.dialect, ctx.landing(run_id)
    cr = ctx.tx(lambda conn: _with_cursor(conn, lambda cur: chunk_rows_in(cur, ctx)),
                purpose=f"read the chunk size of run {run_id}")
    rows, ranges, span = _source_reads(ctx, start, end, cr)
    ctx.set_landing_layout(run_id, None)

    def plan_in(conn: Connection) -> None:
        with conn.cursor() as cur:
            prepare_landing(cur, ctx, run_id, True)
            cur.execute(d.landing_index_sql(landing))
            for no, (a, b, n) in enumerate(ranges, start=1):
                shown = (max(a, span[0]) if span else a, min(b, span[1]) if span else b)
                state.insert_chunk(cur, ctx, run_id, no, (no - 1) * SEQ_SPAN + 1, no * SEQ_SPAN, str(shown[0]),
                                   str(shown[1]), n, key_from=a, key_to=b)
            state.planned(cur, ctx, run_id, rows_extracted=rows, rows_rejected=0, rows_loaded=0,
                          chunks_total=len(ranges))

    ctx.tx(plan_in, purpose=f"plan the key ranges of run {run_id}")
    ctx.set_landing_layout(run_id, True)
    log.info("batch=%s run=%s: %s source rows in %s key ranges of %s (%s); the lanes read them",
             ctx.spec.name, run_id, rows, len(ranges), ctx.key_columns[0].name,
             f"{span[0]}..{span[1]}" if span else "none")
    return rows, len(ranges), cr


def _with_cursor(conn: Connection, fn: Any) -> Any:
    with conn.cursor() as cur:
        return fn(cur)


# ----------------------------------------------------------------------------- one chunk
class Way:
    """How a direct chunk was last written (``chunks.way``)."""

    STRAIGHT = "straight"    # copied from the source straight into the target; keys landed
    IDENTICAL = "identical"  # the target held the range's rows already; keys landed, nothing written
    STAGED = "staged"        # rows landed, then upserted
    EMPTY = "empty"          # no source row in the range


@dataclass(frozen=True)
class KeyRange:
    key_from: int
    key_to: int
    rows_planned: int
    way: str | None = None
    landed: int = 0


def key_range(cur: Cursor, ctx: BatchContext, run_id: int, chunk_no: int) -> KeyRange | None:
    """The chunk's key range; None for a chunk of landed seqs."""
    cur.execute(ctx.dialect.chunk_key_range_sql(ctx.schema), {"run_id": run_id, "chunk_no": chunk_no})
    row = cur.fetchone()
    if row is None or row[0] is None:
        return None
    return KeyRange(int(row[0]), int(row[1]), int(row[2] or 0), row[3], int(row[4] or 0))


class LaneSource:
    """A lane's session on the source, kept across its chunks; closed when it errs or the lane ends."""

    def __init__(self, ctx: BatchContext) -> None:
        self.ctx = ctx
        self.conn: Any = None

    def begin(self) -> Any:
        """A fresh REPEATABLE READ transaction: every read of one chunk sees one snapshot."""
        if self.conn is not None:
            try:
                self.conn.rollback()
            except Exception:
                self.close()
        if self.conn is None:
            self.conn = self.ctx.source_hook.get_conn()
        with self.conn.cursor() as cur:
            cur.execute(self.ctx.dialect.snapshot_read_sql())
        return self.conn

    def end(self) -> None:
        if self.conn is not None:
            try:
                self.conn.rollback()
            except Exception:
                self.close()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing a lane's source session failed", exc_info=True)


def lane_source(ctx: BatchContext) -> LaneSource:
    src = getattr(ctx, "_lane_source", None)
    if src is None:
        src = LaneSource(ctx)
        ctx._lane_source = src  # type: ignore[attr-defined]
    return src


def close_lane_source(ctx: BatchContext) -> None:
    src = getattr(ctx, "_lane_source", None)
    if src is not None:
        src.close()


@dataclass
class DirectWrite:
    """What a direct chunk did: rows in place, rows whose key existed, how (for the log and the tests)."""

    rows_in: int
    written: int
    existed: int
    how: str  # empty | identical | direct | staged


def _params(cur: Cursor, ctx: BatchContext, run_id: int, rng: KeyRange) -> dict:
    start, end = interval_of(cur, ctx, run_id)
    return {"start": start, "end": end, "key_from": rng.key_from, "key_to": rng.key_to}


def interval_of(cur: Cursor, ctx: BatchContext, run_id: int) -> tuple[dt.datetime, dt.datetime]:
    """The run's interval, read once per context (a run's interval never changes)."""
    cache: dict = ctx.__dict__.setdefault("_run_intervals", {})
    if run_id not in cache:
        from gaussdb_batch.engine.control import Run

        cur.execute(ctx.dialect.get_run_sql(ctx.schema), {"run_id": run_id})
        run = Run(*one_row(cur, f"run {run_id}"))
        cache[run_id] = (run.interval_start, run.interval_end)
    return cache[run_id]


def _copy_sql(ctx: BatchContext, select: str, params: dict, base: int = 0) -> str:
    """A source SELECT of one chunk with its values inlined (COPY cannot bind)."""
    d = ctx.dialect
    return select % {"start": d.timestamp_literal(params["start"]), "end": d.timestamp_literal(params["end"]),
                     "key_from": str(int(params["key_from"])), "key_to": str(int(params["key_to"])),
                     "base": str(int(base))}


def _copy(ctx: BatchContext, src: Any, conn: Connection, out_select: str, table: Any, names: list[str]) -> int:
    """Pipe one source SELECT into a target table (binary between servers whose values' binary forms are
    one, else csv); the rows the target took in."""
    from gaussdb_batch.hooks.copy_pipe import copy_rows_between

    d, binary = ctx.dialect, same_hash(ctx)
    return copy_rows_between(ctx.source_hook, src, d.copy_out_sql(out_select, binary=binary), ctx.target_hook, conn,
                             d.copy_in_sql(table, names, binary=binary))


def same_hash(ctx: BatchContext) -> bool:
    """Source and target compute one row hash and share binary COPY forms: both PostgreSQL of one major
    version, every column of exactly the target's (binary-safe) type. Then a range's fingerprint read on
    the source is comparable with the target's (the identical-range test), and rows move in binary."""
    cached = ctx.__dict__.get("_direct_same_hash")
    if cached is None:
        from gaussdb_batch.engine.landing import binary_copy

        cached = ctx.__dict__["_direct_same_hash"] = binary_copy(ctx, True)
    return bool(cached)


def source_fingerprint(ctx: BatchContext, src: Any, params: dict) -> tuple[int, int, int]:
    """(rows, row hash, representation hash) of the chunk's source rows."""
    d, spec = ctx.dialect.for_landing(True), ctx.spec
    assert spec.source.table is not None
    with src.cursor() as cur:
        cur.execute(d.source_range_fingerprint_sql(spec.source.table, ctx.columns, ctx.key_columns[0].name,
                                                   spec.source.interval_column), params)
        n, h, r = one_row(cur, "the chunk's source fingerprint")
    return int(n), int(h), int(r)


def _target_fingerprint(cur: Cursor, ctx: BatchContext, params: dict) -> tuple[int, int, int]:
    d = ctx.dialect
    cur.execute(d.target_range_fingerprint_sql(ctx.target, ctx.columns, ctx.key_columns[0].name,
                                               ctx.spec.target.interval_column, representation=same_hash(ctx)),
                params)
    n, h, r = one_row(cur, "the chunk's target fingerprint")
    return int(n), int(h), int(r)


def _land_target_keys(cur: Cursor, ctx: BatchContext, run_id: int, params: dict, base: int) -> None:
    cur.execute(ctx.dialect.land_keys_from_target_sql(ctx.landing(run_id), ctx.target, ctx.key_columns,
                                                      ctx.spec.target.interval_column), {**params, "base": base})


class _Foreign(Exception):
    """Rows of another writer reached the chunk's range during its straight COPY."""


def _straight(cur: Cursor, conn: Connection, ctx: BatchContext, run_id: int, chunk: state.ClaimedChunk, src: Any,
              params: dict, base: int) -> tuple[int, int] | None:
    """Copy the range from the source straight into the target, which holds none of it; then the target's
    fingerprint of the range (the landed side, computed on the server that received the rows) and the
    keys into the landing. None when it did not complete (rolled back to its savepoint)."""
    d, driver, spec = ctx.dialect, ctx.target_hook.driver, ctx.spec
    table = spec.source.table
    assert table is not None
    select = d.source_range_select_sql(table, ctx.columns, ctx.key_columns, spec.source.interval_column,
                                       numbered=False)
    cur.execute(d.savepoint_sql("gb_direct"))
    try:
        rows = _copy(ctx, src, conn, _copy_sql(ctx, select, params), ctx.target, [c.name for c in ctx.columns])
        both = d.keys_and_fingerprint_sql(ctx.landing(run_id), ctx.target, ctx.columns, ctx.key_columns,
                                          spec.target.interval_column)
        if both is not None:
            cur.execute(both, {**params, "base": base})
            n, h = (int(v) for v in one_row(cur, "the straight chunk's fingerprint"))
        else:
            n, h, _ = _target_fingerprint(cur, ctx, params)
            _land_target_keys(cur, ctx, run_id, params, base)
        if n != rows:  # the savepoint takes the landed keys back too
            raise _Foreign(f"{n - rows} rows of another writer are in the range")
    except (driver.Error, _Foreign) as exc:
        cur.execute(d.rollback_to_savepoint_sql("gb_direct"))
        cur.execute(d.release_savepoint_sql("gb_direct"))
        log.info("batch=%s run=%s chunk=%s: the straight COPY into the target did not complete (%s); staging the "
                 "chunk", spec.name, run_id, chunk.chunk_no, (str(exc).splitlines() or [type(exc).__name__])[0][:200])
        return None
    cur.execute(d.release_savepoint_sql("gb_direct"))
    return n, h


def _stage(cur: Cursor, conn: Connection, ctx: BatchContext, run_id: int, chunk: state.ClaimedChunk, src: Any,
           params: dict, base: int) -> int:
    """The range's source rows into the landing, numbered base+1.. in key order; rows landed."""
    d, spec = ctx.dialect, ctx.spec
    table = spec.source.table
    assert table is not None
    select = d.source_range_select_sql(table, ctx.columns, ctx.key_columns, spec.source.interval_column,
                                       numbered=True)
    return _copy(ctx, src, conn, _copy_sql(ctx, select, params, base), ctx.landing(run_id),
                 [SEQ] + [c.name for c in ctx.columns])


def _landed_fingerprint(cur: Cursor, ctx: BatchContext, run_id: int, chunk: state.ClaimedChunk) -> tuple[int, int]:
    """A staged chunk's landed rows: count and summed row hash, read from the landing (before any reject)."""
    d = ctx.landing_dialect(run_id)
    cur.execute(d.landed_range_fingerprint_sql(ctx.landing(run_id), ctx.columns),
                {"lo": chunk.seq_lo, "hi": chunk.seq_hi})
    n, h = one_row(cur, "the staged chunk's fingerprint")
    return int(n), int(h)


#: After a range found different, a lane skips this many ranges' source fingerprints (it stages them
#: straight away) before it compares again: the comparison costs two reads that only an identical
#: range pays back.
SKIP_AFTER_DIFFERENT = 7


def _worth_comparing(ctx: BatchContext) -> bool:
    """Whether this lane compares the next pre-filled range with the source before staging it."""
    skip = int(ctx.__dict__.get("_direct_skip", 0))
    if skip > 0:
        ctx.__dict__["_direct_skip"] = skip - 1
        return False
    return True


def _compared(ctx: BatchContext, *, identical: bool) -> None:
    ctx.__dict__["_direct_skip"] = 0 if identical else SKIP_AFTER_DIFFERENT


def write_direct_chunk(cur: Cursor, conn: Connection, ctx: BatchContext, run_id: int, chunk: state.ClaimedChunk,
                       rng: KeyRange, *, reload: bool, stage: Any) -> DirectWrite:
    """Read the chunk's range from the source and put it in place (module docstring); inside the chunk's
    transaction. ``stage(lo, hi)`` writes landed seqs lo..hi through the engine's upsert (engine.load)
    and returns (rows written, rows whose key existed).

    A reload (the check's repair) of a staged chunk writes its landed rows again, as any chunk's
    reload does; of a chunk that landed keys only, it stages the range again from the source as it is.
    """
    d = ctx.dialect
    params = _params(cur, ctx, run_id, rng)
    base = chunk.seq_lo - 1
    if reload and rng.way == Way.STAGED:
        written, existed = stage(base + 1, base + rng.landed) if rng.landed else (0, 0)
        return DirectWrite(rng.landed, written, existed, Way.STAGED)
    lanes = lane_source(ctx)
    try:
        src = lanes.begin()
        if reload:
            cur.execute(d.delete_landing_span_sql(ctx.landing(run_id)), {"lo": chunk.seq_lo, "hi": chunk.seq_hi})
        else:
            cur.execute(d.target_range_holds_rows_sql(ctx.target, ctx.key_columns[0].name,
                                                      ctx.spec.target.interval_column), params)
            if cur.fetchone() is None:
                straight = _straight(cur, conn, ctx, run_id, chunk, src, params, base)
                if straight is not None:
                    way = Way.STRAIGHT if straight[0] else Way.EMPTY
                    _finish(cur, ctx, run_id, chunk, straight, way)
                    lanes.end()
                    return DirectWrite(straight[0], straight[0], 0, way)
                src = lanes.begin()  # a fresh snapshot for the staged read
        source_fp = None
        if same_hash(ctx) and not reload and _worth_comparing(ctx):
            source_fp = source_fingerprint(ctx, src, params)
            if source_fp[0] and source_fp == _target_fingerprint(cur, ctx, params):
                n_s, h_s, _ = source_fp
                _land_target_keys(cur, ctx, run_id, params, base)
                cur.execute(d.mark_exact_sql(ctx.undo), {"run_id": run_id, "chunk_no": chunk.chunk_no})
                _finish(cur, ctx, run_id, chunk, (n_s, h_s), Way.IDENTICAL)
                _compared(ctx, identical=True)
                lanes.end()
                return DirectWrite(n_s, n_s, n_s, Way.IDENTICAL)
            _compared(ctx, identical=False)
        landed = _stage(cur, conn, ctx, run_id, chunk, src, params, base)
        lanes.end()
        # The landed side before the write (no reject of this load is stored yet): the source's figures
        # of this snapshot when they were read, else the landing's.
        fp = (source_fp[0], source_fp[1]) if source_fp is not None and source_fp[0] == landed else \
            _landed_fingerprint(cur, ctx, run_id, chunk)
        _finish(cur, ctx, run_id, chunk, fp, Way.STAGED)
        written, existed = stage(base + 1, base + landed) if landed else (0, 0)
        return DirectWrite(landed, written, existed, Way.STAGED if landed else Way.EMPTY)
    except BaseException:
        lanes.close()
        raise


def _finish(cur: Cursor, ctx: BatchContext, run_id: int, chunk: state.ClaimedChunk, fingerprint: tuple[int, int],
            way: str) -> None:
    """The chunk's landed side, for the check, and how it was written."""
    cur.execute(ctx.dialect.set_chunk_fingerprint_sql(ctx.schema),
                {"run_id": run_id, "chunk_no": chunk.chunk_no, "n": fingerprint[0], "h": fingerprint[1], "way": way})
