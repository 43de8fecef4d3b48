"""Direct chunks: chunks planned as key ranges on the source; each lane reads its own ranges.

The landing path lands the whole interval with one COPY before any lane starts, and every row is
written twice (landing, then target). A direct run instead plans its chunks on the source, as
ranges of the first key (integers): one read of the interval's row count and key span, one of
the first key of every ``chunk_rows``-th row in key order (the key index's order), where the
ranges begin. The outer ranges are
open, so every key of the interval has exactly one chunk, whenever it appears. Extract then only
creates the (empty) landing and writes the plan; the lanes read the source in parallel, one
source session each.

One chunk is one transaction on the target, as always (claim, write, journal, DONE, commit),
plus one REPEATABLE READ transaction on the source, so all of the chunk's reads see one snapshot:

1. the range's fingerprint on the source (count, summed row hash: the check's landed side, stored
   on the chunk row; hashed as the target's values, which a direct run's source columns are);
2. the target's fingerprint of the same range (and interval, when the target has an interval
   column). Equal: the target already holds exactly these rows; nothing is written or journaled
   (the chunk is marked exact), only the keys are landed;
3. the target holds no row of the range: the rows go from the source straight into the target
   with COPY, once (binary), and their keys into the landing. Compensation deletes a chunk's
   landed keys, as for any chunk that inserted them;
4. otherwise, or when that COPY fails (a key that arrived since, a row the target refuses): the
   rows are staged in the landing and written by the engine's upsert (engine.load: the journal
   of what changes, bisection of bad rows to the rejects).

Direct chunks apply where every condition holds: a table source with a unique index on the keys,
a first key of an integer type, source and target in different databases, mode upsert, both
servers PostgreSQL of one major version with every column of exactly the target's type (the
binary COPY's condition, which also makes the two servers' row hashes one function), and the
spec's ``load_path`` is ``auto``. Anything else lands the interval first (``direct_reason``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gaussdb_batch.dialects import SEQ
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
    if not binary_copy(ctx, True):
        return ("the servers are not both PostgreSQL of one major version, or a source column's type differs "
                "from the target's")
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
            cur.execute(d.snapshot_read_sql())
            cur.execute(d.source_key_span_sql(table, first, ic), {"start": start, "end": end})
            n, kmin, kmax = one_row(cur, "the interval's key span")
            n = int(n or 0)
            if n == 0:
                return 0, [], None
            if n <= chunk_rows:
                return n, [(KEY_MIN, KEY_MAX, n)], (int(kmin), int(kmax))
            cur.execute(d.source_key_cuts_sql(table, first, ic), {"start": start, "end": end, "every": chunk_rows})
            cuts = [int(r[0]) for r in cur.fetchall()]
            return n, split_ranges(cuts, n, chunk_rows), (int(kmin), int(kmax))

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
                cur.execute(d.insert_direct_chunk_sql(ctx.schema), {
                    "run_id": run_id, "chunk_no": no, "seq_lo": (no - 1) * SEQ_SPAN + 1, "seq_hi": no * SEQ_SPAN,
                    "key_lo": str(shown[0]), "key_hi": str(shown[1]), "status": state.ChunkStatus.PENDING.value,
                    "rows_in": n, "key_from": a, "key_to": b})
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
@dataclass(frozen=True)
class KeyRange:
    key_from: int
    key_to: int
    rows_planned: int


def key_range(cur: Cursor, ctx: BatchContext, run_id: int, chunk_no: int) -> KeyRange | None:
    """The chunk's key range; None for a chunk of landed seqs."""
    cur.execute(ctx.dialect.chunk_key_range_sql(ctx.schema), {"run_id": run_id, "chunk_no": chunk_no})
    row = cur.fetchone()
    if row is None or row[0] is None:
        return None
    return KeyRange(int(row[0]), int(row[1]), int(row[2] or 0))


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


def _copy(ctx: BatchContext, src: Any, conn: Connection, out_select: str, table: Any, names: list[str]) -> None:
    from gaussdb_batch.hooks.copy_pipe import copy_between

    d = ctx.dialect
    copy_between(ctx.source_hook, src, d.copy_out_sql(out_select, binary=True), ctx.target_hook, conn,
                 d.copy_in_sql(table, names, binary=True))


def land_keys(ctx: BatchContext, src: Any, conn: Connection, run_id: int, params: dict, base: int,
              *, full_rows: bool) -> None:
    """The chunk's source rows (or only their keys) into the landing, numbered base+1.. in key order."""
    d, spec = ctx.dialect, ctx.spec
    table = spec.source.table
    assert table is not None
    cols = ctx.columns if full_rows else ctx.key_columns
    select = d.source_range_select_sql(table, cols, ctx.key_columns, spec.source.interval_column, numbered=True)
    _copy(ctx, src, conn, _copy_sql(ctx, select, params, base), ctx.landing(run_id), [SEQ] + [c.name for c in cols])


def source_fingerprint(ctx: BatchContext, src: Any, params: dict) -> tuple[int, int, int]:
    """(rows, row hash, representation hash) of the chunk's source rows."""
    d, spec = ctx.dialect.for_landing(True), ctx.spec
    assert spec.source.table is not None
    with src.cursor() as cur:
        cur.execute(d.source_range_fingerprint_sql(spec.source.table, ctx.columns, ctx.key_columns[0].name,
                                                   spec.source.interval_column), params)
        n, h, r = one_row(cur, "the chunk's source fingerprint")
    return int(n), int(h), int(r)


def write_direct_chunk(cur: Cursor, conn: Connection, ctx: BatchContext, run_id: int, chunk: state.ClaimedChunk,
                       rng: KeyRange, *, reload: bool, stage: Any) -> DirectWrite:
    """Read the chunk's range from the source and put it in place (module docstring); inside the chunk's
    transaction. ``stage(lo, hi)`` writes landed seqs lo..hi through the engine's upsert (engine.load)."""
    d, driver = ctx.dialect, ctx.target_hook.driver
    params = _params(cur, ctx, run_id, rng)
    base = chunk.seq_lo - 1
    lanes = lane_source(ctx)
    try:
        src = lanes.begin()
        n_s, h_s, r_s = source_fingerprint(ctx, src, params)
        if reload:  # the check's repair: the chunk is staged again from the source as it is now
            cur.execute(d.delete_landing_span_sql(ctx.landing(run_id)), {"lo": chunk.seq_lo, "hi": chunk.seq_hi})
        how = "staged"
        existed = 0
        if n_s == 0:
            how = "empty"
        elif not reload:
            cur.execute(d.target_range_fingerprint_sql(ctx.target, ctx.columns, ctx.key_columns[0].name,
                                                       ctx.spec.target.interval_column), params)
            n_t, h_t, r_t = (int(v) for v in one_row(cur, "the chunk's target fingerprint"))
            if (n_t, h_t, r_t) == (n_s, h_s, r_s):
                land_keys(ctx, src, conn, run_id, params, base, full_rows=False)
                cur.execute(d.mark_exact_sql(ctx.undo), {"run_id": run_id, "chunk_no": chunk.chunk_no})
                how, existed = "identical", n_s
            elif n_t == 0:
                table = ctx.spec.source.table
                assert table is not None
                cur.execute(d.savepoint_sql("gb_direct"))
                try:
                    _copy(ctx, src, conn, _copy_sql(ctx, d.source_range_select_sql(
                        table, ctx.columns, ctx.key_columns, ctx.spec.source.interval_column,
                        numbered=False), params), ctx.target, [c.name for c in ctx.columns])
                    land_keys(ctx, src, conn, run_id, params, base, full_rows=False)
                    cur.execute(d.release_savepoint_sql("gb_direct"))
                    how = "direct"
                except driver.Error as exc:
                    cur.execute(d.rollback_to_savepoint_sql("gb_direct"))
                    cur.execute(d.release_savepoint_sql("gb_direct"))
                    log.info("batch=%s run=%s chunk=%s: the straight COPY into the target did not complete (%s); "
                             "staging the chunk", ctx.spec.name, run_id, chunk.chunk_no,
                             str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
                    src = lanes.begin()
                    n_s, h_s, r_s = source_fingerprint(ctx, src, params)
        written = n_s if how in ("identical", "direct") else 0
        if how == "staged" and n_s:
            land_keys(ctx, src, conn, run_id, params, base, full_rows=True)
            written, existed = stage(base + 1, base + n_s)
        cur.execute(d.set_chunk_fingerprint_sql(ctx.schema),
                    {"run_id": run_id, "chunk_no": chunk.chunk_no, "n": n_s, "h": h_s})
        lanes.end()
        return DirectWrite(n_s, written, existed, how)
    except BaseException:
        lanes.close()
        raise
