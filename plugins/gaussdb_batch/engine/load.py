"""Load: a lane claims pending chunks one at a time and writes each in ONE transaction.

Per chunk: claim it (``FOR UPDATE SKIP LOCKED``: one indexed row lock, other lanes skip
it), journal exactly what it changes (the before-images of rows that differ, the keys it
inserts; rows already identical are neither journaled nor rewritten), write it through the
dialect's upsert (a plain INSERT, without the capture, while the lane keeps finding only new keys),
mark it DONE with its counts, commit. A lane killed at any instant leaves its chunk
PENDING (the transaction rolls back) and the next claim takes it again: no row lost,
none duplicated, finished chunks never redone. Every chunk transaction starts with the
ownership fence (engine.state.claim): a lane of a DAG run that no longer owns the attempt,
or of an attempt being compensated, stops instead of loading or waiting.

Bad rows never stop good rows: when a write fails with a data error (SQLSTATE class 22
or 23), the range is bisected under savepoints until each bad row stands alone; it goes
to the rejects table with its SQLSTATE and message, and the good rows load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gaussdb_batch import metrics
from gaussdb_batch.dialects.gaussdb import INVALID_REGULAR_EXPRESSION, NUMBER_CHECK
from gaussdb_batch.dialects.writes import OP_INSERTED
from gaussdb_batch.engine import state
from gaussdb_batch.engine.choices import LoadMode, RejectStage
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.direct import close_lane_source, key_range, write_direct_chunk
from gaussdb_batch.engine.control import Run
from gaussdb_batch.engine.errors import PermanentBatchError, TransientBatchError
from gaussdb_batch.engine.rejects import count_rejects, insert_reject
from gaussdb_batch.engine.state import PURGE_CHUNK, ChunkStatus, RunStatus
from gaussdb_batch.hooks.errors import DATA, classify
from gaussdb_batch.hooks.dbapi import Connection, Cursor, NoRowError, one_row, scalar

SAVEPOINT = "gb_write"
#: Seconds between two reads of a run's progress by one lane (its per-chunk log line counts on in between).
PROGRESS_EVERY = 5.0
#: SQLSTATE of a duplicate key: on the plain-INSERT path, a key that arrived since the undo capture.
UNIQUE_VIOLATION = "23505"


@dataclass
class ChunkResult:
    chunk_no: int
    rows_in: int
    written: int
    rejected: int
    seconds: float


@dataclass
class LaneResult:
    lane: int
    chunks: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    seconds: float = 0.0
    chunk_results: list[ChunkResult] = field(default_factory=list)


class _Rejects:
    """What one chunk transaction's writes found: rows isolated by bisection, how its keys stood."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str]] = []  # (seq, sqlstate, message)
        #: Rows of the chunk whose key existed in the target before it wrote (changed or identical).
        self.existed = 0
        #: A range of the chunk was journaled by the change capture: the chunk's journal is exact.
        self.exact = False
        #: Ranges written by a plain INSERT without a capture (every row of each one inserted).
        self.plain: list[tuple[int, int]] = []


def _write_range(cur: Cursor, ctx: BatchContext, run_id: int, chunk_no: int, lo: int, hi: int,
                 rejects: _Rejects, *, reload: bool = False) -> int:
    """Write the chunk's seqs [lo, hi] and journal exactly what they change; returns rows written.

    Upserts journal by change (``capture_changes_sql``): the before-image of a row that differs, the
    key of a row that is new, nothing for a row already identical, which the upsert leaves alone
    too. Such a chunk is marked exact ('E'): compensation deletes its journaled keys only. A chunk
    written by plain INSERTs alone journals nothing and stays unmarked: compensation deletes its
    landed keys, as for delete_insert and append, which journal every existing row. A reload (the
    check's repair) of an exact chunk journals the changes since its first load
    (``capture_identical_before_sql``: a row it left identical has its landed image as pre-run
    state); of an unmarked one, the rows earlier loads rejected.
    """
    d = ctx.landing_dialect(run_id)
    params = {"run_id": run_id, "chunk_no": chunk_no, "lo": lo, "hi": hi}
    exact_before = False
    if reload and ctx.spec.mode == LoadMode.UPSERT:
        cur.execute(d.chunk_is_exact_sql(ctx.undo, ctx.key_columns), params)
        exact_before = int(scalar(cur, "the chunk's exact mark") or 0) > 0
        if exact_before:
            cur.execute(d.capture_identical_before_sql(ctx.schema, ctx.undo, ctx.target, ctx.landing(run_id),
                                                       ctx.columns, ctx.key_columns), params)
    written = _write_part(cur, ctx, run_id, chunk_no, lo, hi, rejects, reload=reload, exact=exact_before)
    if rejects.exact and not reload:
        for plo, phi in rejects.plain:
            cur.execute(d.journal_inserted_range_sql(ctx.undo, ctx.landing(run_id), ctx.key_columns),
                        {**params, "lo": plo, "hi": phi})
        cur.execute(d.mark_exact_sql(ctx.undo), params)
    return written


def _capture(cur: Cursor, ctx: BatchContext, run_id: int, params: dict, *, reload: bool, exact: bool) -> tuple[int, int]:
    """Journal a range before it writes; returns (journal entries, keys found new: -1 when not counted)."""
    d, landing = ctx.landing_dialect(run_id), ctx.landing(run_id)
    if ctx.spec.mode != LoadMode.UPSERT:
        cur.execute(d.capture_undo_sql(ctx.undo, ctx.target, landing, ctx.columns, ctx.key_columns,
                                       reload_schema=ctx.schema if reload else None), params)
        return max(cur.rowcount or 0, 0), -1
    cur.execute(d.capture_changes_sql(ctx.undo, ctx.target, landing, ctx.columns, ctx.key_columns,
                                      rejected_schema=ctx.schema if reload and not exact else None), params)
    ops = [r[0] for r in cur.fetchall()]
    return len(ops), ops.count(OP_INSERTED)


def _write_part(cur: Cursor, ctx: BatchContext, run_id: int, chunk_no: int, lo: int, hi: int,
                rejects: _Rejects, *, reload: bool = False, plain_insert: bool = True, exact: bool = False) -> int:
    """Write seqs [lo, hi]; bisect on data errors. Returns rows written.

    An upsert of keys the target does not hold writes with a plain INSERT (no conflict
    arbitration per row, nothing to journal: first loads and new intervals). While the lane's
    last chunk found no existing key (``ctx.keys_were_new``) the INSERT goes first, with no
    capture at all; otherwise the capture runs first and the INSERT is used when it found
    only new keys. Either way a key that exists (or arrives from a concurrent writer) makes the
    INSERT fail with unique_violation: the range is then rolled back to its savepoint and
    written as an upsert after the capture, and only a failure of that write is bad data.
    """
    d, driver = ctx.landing_dialect(run_id), ctx.target_hook.driver
    params = {"run_id": run_id, "chunk_no": chunk_no, "lo": lo, "hi": hi}
    landing = ctx.landing(run_id)
    upsert = not reload and ctx.spec.mode == LoadMode.UPSERT
    cur.execute(d.savepoint_sql(SAVEPOINT))
    plain = captured = False
    entries, new_keys = 0, -1
    try:
        if not (plain_insert and upsert and ctx.keys_were_new):
            captured = True
            entries, new_keys = _capture(cur, ctx, run_id, params, reload=reload, exact=exact)
        plain = plain_insert and upsert and (not captured or new_keys == hi - lo + 1)
        written = 0
        for stmt in [d.append_sql(ctx.target, landing, ctx.columns)] if plain else \
                d.write_sql(ctx.spec.mode, ctx.target, landing, ctx.columns, ctx.key_columns):
            cur.execute(stmt, params)
            written = max(cur.rowcount or 0, 0)
        if not plain and ctx.spec.mode == LoadMode.UPSERT and written < hi - lo + 1:
            # The upsert's row count leaves out rows it found already identical (not rewritten)
            # or kept (DO NOTHING): every landed row of the range is in place now. (A count of
            # hi - lo + 1 already is every row the range can hold.)
            cur.execute(d.range_rows_sql(landing), params)
            written = int(scalar(cur, "the range's landed rows") or 0)
    except driver.Error as exc:
        sqlstate = driver.sqlstate(exc)
        if classify(sqlstate, connection_lost=driver.connection_lost(exc)) != DATA:
            raise
        cur.execute(d.rollback_to_savepoint_sql(SAVEPOINT))
        cur.execute(d.release_savepoint_sql(SAVEPOINT))
        if plain and sqlstate == UNIQUE_VIOLATION:
            ctx.keys_were_new = False
            return _write_part(cur, ctx, run_id, chunk_no, lo, hi, rejects, reload=reload, plain_insert=False,
                               exact=exact)
        if lo == hi:
            message = driver.diag(exc).get("message_primary") or type(exc).__name__
            if sqlstate == INVALID_REGULAR_EXPRESSION and d.caps.check_numbers:
                sqlstate, message = NUMBER_CHECK  # the number check's error, not the server's wording
            rejects.rows.append((lo, sqlstate or "", message))
            return 0
        mid = (lo + hi) // 2
        return (_write_part(cur, ctx, run_id, chunk_no, lo, mid, rejects, reload=reload, exact=exact)
                + _write_part(cur, ctx, run_id, chunk_no, mid + 1, hi, rejects, reload=reload, exact=exact))
    cur.execute(d.release_savepoint_sql(SAVEPOINT))
    # Every row of the range is in place now: an upsert's keys that were not new existed; the other
    # modes journal every row that existed.
    existed = entries if new_keys < 0 else hi - lo + 1 - new_keys
    if upsert:
        ctx.keys_were_new = existed == 0
        if captured:
            rejects.exact = True
        else:
            rejects.plain.append((lo, hi))
    rejects.existed += existed
    return written


def _purge_interval(cur: Cursor, ctx: BatchContext, run_id: int) -> int:
    """delete_insert: journal and delete the interval's target rows that vanished at the source."""
    d = ctx.landing_dialect(run_id)
    cur.execute(d.get_run_sql(ctx.schema), {"run_id": run_id})
    run = Run(*one_row(cur, f"run {run_id}"))
    params = {"run_id": run_id, "chunk_no": PURGE_CHUNK, "start": run.interval_start, "end": run.interval_end}
    for stmt in purge_statements(ctx, run_id, repair=run.repair_of is not None):
        cur.execute(stmt, params)
    deleted = max(cur.rowcount or 0, 0)
    log.info("batch=%s run=%s chunk=0: deleted %s rows of the %s that vanished at the source",
             ctx.spec.name, run_id, deleted, "interval" if run.repair_of is None else "repaired keys")
    return deleted


def plan_chunk(cur: Cursor, ctx: BatchContext, chunk_no: int, rows: int) -> None:
    """The plan settings of one chunk transaction.

    A chunk of landed rows is sized (``BatchContext.size_plans``: index probes per landed row while
    it is a small share of the target). The purge chunk of delete_insert (seq 0..0) is not: it
    compares the interval's whole target rows with the whole landing, which has no index on the
    keys, so per-row plans would scan the landing once per target row (quadratic); it runs with
    the planner free to hash the landing once (an anti join).
    """
    if chunk_no == PURGE_CHUNK and ctx.spec.mode == LoadMode.DELETE_INSERT:
        cur.execute(ctx.dialect.chunk_plan_settings_sql(pinned=False))
    else:
        ctx.size_plans(cur, rows)


def purge_statements(ctx: BatchContext, run_id: int, *, repair: bool = False) -> list[str]:
    """delete_insert's purge: journal, then delete, the interval's target rows that vanished at the source
    (a ``repair`` run: the rows of its differing keys that the source does not have)."""
    d, landing, ic = ctx.landing_dialect(run_id), ctx.landing(run_id), ctx.spec.target.interval
    key_set = ctx.key_set(run_id) if repair else None
    return [d.capture_purge_sql(ctx.undo, ctx.target, landing, ctx.columns, ctx.key_columns, ic, key_set),
            d.purge_interval_sql(ctx.target, landing, ctx.key_columns, ic, key_set)]


def _store_rejects(cur: Cursor, ctx: BatchContext, run_id: int, chunk_no: int, rejects: _Rejects) -> None:
    if not rejects.rows:
        return
    d = ctx.dialect
    cur.execute(d.landing_rows_sql(ctx.landing(run_id), ctx.columns), {"seqs": [r[0] for r in rejects.rows]})
    names = [c.name for c in ctx.columns]
    rows = {r[0]: dict(zip(names, r[1:])) for r in cur.fetchall()}
    for seq, sqlstate, message in rejects.rows:
        insert_reject(cur, ctx, run_id, stage=RejectStage.LOAD, chunk_no=chunk_no, seq=seq, sqlstate=sqlstate,
                      message=message, values=rows.get(seq, {}))


def load_one_chunk(ctx: BatchContext, run_id: int, lane: int) -> ChunkResult | None:
    """Claim and load the next pending chunk of the run; None when none is left."""
    d = ctx.prepare().dialect
    ctx.landing_layout(run_id)  # read before the transaction (transactions never nest)
    tries = 0

    def work(conn: Connection) -> ChunkResult | None:
        nonlocal tries
        tries += 1
        with conn.cursor() as cur:
            chunk = state.claim(cur, ctx, run_id)
            if chunk is None:
                return None
            chunk_no, lo, hi = chunk.chunk_no, chunk.seq_lo, chunk.seq_hi
            rng = key_range(cur, ctx, run_id, chunk_no)
            rows_in = hi - lo + 1 if rng is None else rng.rows_planned
            plan_chunk(cur, ctx, chunk_no, rows_in)
            t0 = time.monotonic()
            rejects = _Rejects()
            reload = False
            if rng is not None:
                cur.execute(d.chunk_loads_sql(ctx.schema), {"run_id": run_id, "chunk_no": chunk_no})
                reload = int(scalar(cur, "the chunk's loads") or 0) > 0

                def stage(slo: int, shi: int) -> tuple[int, int]:
                    return _write_range(cur, ctx, run_id, chunk_no, slo, shi, rejects, reload=reload), rejects.existed

                done = write_direct_chunk(cur, conn, ctx, run_id, chunk, rng, reload=reload, stage=stage)
                written, rows_in = done.written, done.rows_in
                rejects.existed = done.existed
                log.debug("batch=%s run=%s chunk=%s: %s rows, %s", ctx.spec.name, run_id, chunk_no, rows_in, done.how)
            elif chunk_no == PURGE_CHUNK and ctx.spec.mode == LoadMode.DELETE_INSERT:
                _purge_interval(cur, ctx, run_id)  # deletions are not rows written
                written = 0
            else:
                cur.execute(d.chunk_loads_sql(ctx.schema), {"run_id": run_id, "chunk_no": chunk_no})
                reload = int(scalar(cur, "the chunk's loads") or 0) > 0
                written = _write_range(cur, ctx, run_id, chunk_no, lo, hi, rejects, reload=reload)
            _store_rejects(cur, ctx, run_id, chunk_no, rejects)
            # Inserted vs updated is known on a chunk's first load (its before-images are the rows
            # that existed); a reload finds the rows this run wrote, so it records neither.
            split = None if chunk_no == PURGE_CHUNK or reload else (written - rejects.existed, rejects.existed)
            state.finish_chunk(cur, ctx, run_id, chunk, written=written, rejected=len(rejects.rows), lane=lane,
                               inserted_updated=split)
            return ChunkResult(chunk_no, rows_in, written, len(rejects.rows), time.monotonic() - t0)

    try:
        return ctx.tx(work, purpose=f"load a chunk of run {run_id} (lane {lane})")
    finally:
        if tries > 1:  # the hook rolled the chunk back after a transient error and ran it again
            metrics.chunk_retried(ctx.spec.name, tries - 1)


def _progress(ctx: BatchContext, run_id: int) -> tuple[int, int, int]:
    row = ctx.one(ctx.dialect.chunk_progress_sql(ctx.schema), {"run_id": run_id, "done": ChunkStatus.DONE.value},
                  purpose=f"read the progress of run {run_id}")
    if row is None:
        raise NoRowError(f"the progress of run {run_id} returned no row")
    total, done, rows = row
    return int(total or 0), int(done or 0), int(rows or 0)


def rejects_over_limit(ctx: BatchContext, run_id: int) -> int | None:
    """The run's reject count (every stage) when it exceeds the batch's max_rejects, else None."""
    n = count_rejects(ctx, run_id)
    return n if n > ctx.spec.max_rejects else None


def _unfinished(ctx: BatchContext, run_id: int) -> int:
    """Chunks not DONE yet; fenced, so a lane never waits on chunks of a run it no longer owns."""

    def read(conn: Connection) -> int:
        with conn.cursor() as cur:
            state.fence(cur, ctx, run_id, RunStatus.LOADING, shared=True)
            cur.execute(ctx.dialect.chunk_totals_sql(ctx.schema), {"run_id": run_id, "done": ChunkStatus.DONE.value})
            return int(one_row(cur, "the chunk totals")[1] or 0)

    return ctx.tx(read, purpose=f"count the unfinished chunks of run {run_id}")


def run_lane(ctx: BatchContext, run_id: int, lane: int, *, max_chunks: int | None = None,
             wait_for_others: float = 3600.0) -> LaneResult:
    """Load chunks until every chunk of the run is DONE; log progress (chunk i of n, rows/s, ETA).

    When nothing is left to claim but chunks are still held by other sessions (a lane at
    work, or the session of a killed lane that the server has not reaped yet), the lane
    waits and claims again: it returns only when the whole run is loaded, so the check
    never starts on a half-loaded run. ``wait_for_others`` bounds that wait (seconds).
    """
    spec = ctx.spec
    ctx.prepare()
    result = LaneResult(lane)
    t0 = time.monotonic()
    try:
        _lane_loop(ctx, run_id, lane, result, t0, max_chunks, wait_for_others)
    finally:
        close_lane_source(ctx)
    result.seconds = time.monotonic() - t0
    log.info(
        "batch=%s run=%s lane=%s: finished, %s chunks, %s rows written, %s rejected in %.1fs",
        spec.name, run_id, lane, result.chunks, result.rows_written, result.rows_rejected, result.seconds,
    )
    return result


def _lane_loop(ctx: BatchContext, run_id: int, lane: int, result: LaneResult, t0: float, max_chunks: int | None,
               wait_for_others: float) -> None:
    spec = ctx.spec
    waited_since: float | None = None
    pause = 0.2
    #: The run's progress as last read (total chunks, chunks done), and when: read again only
    #: every PROGRESS_EVERY seconds; in between a lane counts its own chunks on.
    total = done = 0
    progress_at: float | None = None
    while max_chunks is None or result.chunks < max_chunks:
        with metrics.chunk_timer(spec.name):
            chunk = load_one_chunk(ctx, run_id, lane)
        if chunk is None:
            if _unfinished(ctx, run_id) == 0:
                break
            now = time.monotonic()
            waited_since = waited_since or now
            if now - waited_since > wait_for_others:
                raise TransientBatchError(
                    spec.name, f"chunks still held by other sessions after {wait_for_others:.0f}s", run_id=run_id
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
            continue
        waited_since, pause = None, 0.2
        result.chunks += 1
        result.rows_written += chunk.written
        result.rows_rejected += chunk.rejected
        result.chunk_results.append(chunk)
        metrics.rows_loaded(spec.name, chunk.written)
        if chunk.rejected:
            metrics.rows_rejected(spec.name, chunk.rejected)
        now = time.monotonic()
        elapsed = now - t0
        if progress_at is None or now - progress_at >= PROGRESS_EVERY:
            total, done, _ = _progress(ctx, run_id)
            progress_at = now
        else:
            done = min(done + 1, total)
        rate = result.rows_written / elapsed if elapsed > 0 else 0.0
        per_chunk = elapsed / result.chunks
        eta = per_chunk * max(total - done, 0)
        log.info(
            "batch=%s run=%s chunk=%s lane=%s: chunk %s of %s done (%s rows written, %s rejected, %.0f rows/s, ETA %.0fs)",
            spec.name, run_id, chunk.chunk_no, lane, done, total, chunk.written, chunk.rejected, rate, eta,
        )
        if chunk.rejected:
            over = rejects_over_limit(ctx, run_id)
            if over is not None:
                raise PermanentBatchError(
                    spec.name,
                    f"{over} rejected rows exceed max_rejects={spec.max_rejects}; see {ctx.schema}.rejects",
                    run_id=run_id, chunk_no=chunk.chunk_no,
                )
        if spec.throttle_rows_per_second:
            min_seconds = chunk.rows_in / spec.throttle_rows_per_second
            if chunk.seconds < min_seconds:
                time.sleep(min_seconds - chunk.seconds)
