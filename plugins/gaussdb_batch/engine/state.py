"""The state machine of runs and chunks, and who owns an attempt: the one place statuses change.

Run (one attempt at an interval)::

    begin ──> EXTRACTING ──planned──> LOADING ──finish_run──> DONE
                 │  ^                    │  ^                   │ (manual rollback)
               fail│ (resume: re-extract) │  (resume: same plan) v
                 v  │                    └──compensating──> COMPENSATING ──compensated──> COMPENSATED
               FAILED ─────────────────────────────────────────^

Chunk: PENDING ──finish_chunk──> DONE ──compensate_chunk──> COMPENSATED; DONE ──reset_for_reload──> PENDING.
A claim is a row lock inside the chunk's transaction, not a status: a killed lane's chunk is
PENDING again the moment its transaction rolls back.

Ownership with fencing: an attempt belongs to the Airflow DAG run that began it
(``owner_dag_id``, ``dag_run_id``) and holds a lease of ``lease_seconds``. Every transaction
that writes for an attempt first locks its ``runs`` row (shared for lanes, exclusive for single
writers) and checks owner and status there: a takeover takes the row exclusively, so it waits
for the writes in flight, and every write after it sees the new owner and stops. The lease is
renewed by single-writer steps (extract, check, compensation, finalize) and by every chunk
commit (the chunk's ``finished_at``). A second attempt while the lease is live fails fast
naming the live DAG run (``on_overlap: fail``) or waits for it (``on_overlap: wait``); once the
lease expired (owner killed) the attempt is taken over, which is how a run resumes after a crash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from gaussdb_batch.engine.choices import LoadMode, Overlap
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.owner import ADHOC, Owner  # noqa: F401 - re-exported beside the state machine
from gaussdb_batch.hooks.dbapi import one_row, scalar

if TYPE_CHECKING:
    from gaussdb_batch.hooks.dbapi import Connection, Cursor
    from gaussdb_batch.engine.context import BatchContext

log = logging.getLogger("gaussdb_batch.engine")


class RunStatus(StrEnum):
    EXTRACTING = "EXTRACTING"
    LOADING = "LOADING"
    FAILED = "FAILED"
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"
    DONE = "DONE"


class ChunkStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    COMPENSATED = "COMPENSATED"


#: Attempts that ended: running the interval again starts a new attempt.
FINISHED = (RunStatus.DONE, RunStatus.COMPENSATED)
#: In delete_insert mode, the chunk that removes the interval's rows the source no longer has.
PURGE_CHUNK = 0
#: The lane number the check's repair step reloads with (``chunks.lane`` of a reloaded chunk):
#: below every Airflow lane (0..lanes-1), so a chunk the repair reloaded is told apart.
REPAIR_LANE = -1




class Chunk(NamedTuple):
    """A chunk of the plan as the claim and the check read it."""

    chunk_no: int
    seq_lo: int
    seq_hi: int
    key_lo: str | None
    key_hi: str | None
    status: str


class ClaimedChunk(NamedTuple):
    chunk_no: int
    seq_lo: int
    seq_hi: int
    started_at: dt.datetime


class OverlapError(PermanentBatchError):
    """Another DAG run holds a live lease on this interval's attempt."""


class NotOwnedError(PermanentBatchError):
    """This DAG run no longer owns the attempt (taken over, compensated or finished): it must stop."""


@dataclass(frozen=True)
class Begun:
    run_id: int
    attempt: int
    #: True when the attempt existed (a retry, or a takeover after the owner died).
    resumed: bool
    #: The landing and plan are complete: load them as they are instead of extracting again.
    planned: bool
    taken_over_from: str | None = None


def _owner_params(owner: Owner) -> dict[str, str]:
    return {"owner_dag_id": owner.dag_id, "dag_run_id": owner.run_id}


def _owner_of(dag_id: str | None, run_id: str | None) -> Owner | None:
    return Owner(dag_id, run_id) if dag_id and run_id else None


def _interval_key(batch: str, start: dt.datetime, end: dt.datetime) -> int:
    digest = hashlib.blake2b(f"{batch}|{start.isoformat()}|{end.isoformat()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lease(ctx: BatchContext) -> dict[str, int]:
    return {"lease_seconds": int(ctx.spec.lease_seconds)}


def _lease_left(cur: Cursor, ctx: BatchContext, run_id: int) -> float:
    """Seconds the attempt's lease has left (<= 0: expired); chunk commits count as renewals."""
    cur.execute(ctx.dialect.lease_facts_sql(ctx.schema), {"run_id": run_id})
    until, last_chunk, seconds, now = one_row(cur, "the run's lease")
    marks = [m for m in (until, last_chunk + dt.timedelta(seconds=seconds or 0) if last_chunk else None) if m]
    return max((m - now).total_seconds() for m in marks) if marks else -1.0


# --------------------------------------------------------------------------- begin
def begin(ctx: BatchContext, start: dt.datetime, end: dt.datetime, *, repair_of: int | None = None) -> Begun:
    """Start or resume the attempt at [start, end) as ``ctx.owner``; fail fast or wait on a live owner.

    ``repair_of``: the attempt re-syncs that reconciliation's differing records (engine/repair.py); its
    interval is the zero-length [t, t) at the reconciliation's start, which no data interval can be.
    """
    spec = ctx.spec
    waited_since = time.monotonic()
    pause, last_log = 1.0, 0.0
    while True:
        outcome = ctx.tx(lambda conn: _begin_in(conn, ctx, start, end, repair_of),
                         purpose=f"begin the run of {start.isoformat()} .. {end.isoformat()}")
        if isinstance(outcome, Begun):
            return outcome
        run_id, live, status, left = outcome
        if spec.on_overlap == Overlap.FAIL:
            raise OverlapError(
                spec.name,
                f"interval {start.isoformat()} .. {end.isoformat()} is being processed by {live} "
                f"(status {status}, lease {left:.0f}s left): this attempt stops without touching it "
                "(set on_overlap: wait to queue behind it)",
                run_id=run_id,
            )
        now = time.monotonic()
        if now - last_log >= 30:
            log.info("batch=%s run=%s: waiting for %s (status %s, lease %.0fs left), %.0fs so far",
                     spec.name, run_id, live, status, left, now - waited_since)
            last_log = now
        time.sleep(pause)
        pause = min(pause * 2, 10.0)


def _begin_in(conn: Connection, ctx: BatchContext, start: dt.datetime, end: dt.datetime,
              repair_of: int | None = None) -> Begun | tuple:
    d, schema, spec, me = ctx.dialect, ctx.schema, ctx.spec, ctx.owner
    with conn.cursor() as cur:
        cur.execute(d.advisory_xact_lock_sql(), {"key": _interval_key(spec.name, start, end)})
        cur.execute(d.latest_run_sql(schema), {"batch": spec.name, "start": start, "end": end})
        row = cur.fetchone()
        if row is None or row[2] in FINISHED:
            if row is not None and row[2] == RunStatus.DONE and spec.mode == LoadMode.APPEND:
                raise PermanentBatchError(
                    spec.name,
                    f"interval {start.isoformat()} .. {end.isoformat()} was already appended by run {row[0]}: "
                    "append mode never appends an interval twice; roll that run back first "
                    f"(DAG {spec.dag_id}__rollback with run_id {row[0]}) to load it again",
                    run_id=row[0],
                )
            attempt = (row[1] + 1) if row else 1
            cur.execute(d.insert_run_sql(schema), {
                "batch": spec.name, "start": start, "end": end, "attempt": attempt,
                "status": RunStatus.EXTRACTING.value, **_owner_params(me), "target": str(ctx.target),
                "mode": spec.mode, **_lease(ctx), "repair_of": repair_of,
            })
            return Begun(scalar(cur, "the new run"), attempt, resumed=False, planned=False)
        run_id, attempt, status = row[0], row[1], RunStatus(row[2])
        owner = _owner_of(row[3], row[4])
        if owner != me and status != RunStatus.FAILED:
            left = _lease_left(cur, ctx, run_id)
            if left > 0:
                return run_id, owner, status, left
        # Ours, or the owner's lease expired: lock the row (waits for its writes in flight), look again.
        cur.execute(d.lock_run_sql(schema, exclusive=True), {"run_id": run_id})
        status_now, dag_id, dag_run = one_row(cur, "the run")[:3]
        status, owner = RunStatus(status_now), _owner_of(dag_id, dag_run)
        if owner != me and status != RunStatus.FAILED:
            left = _lease_left(cur, ctx, run_id)
            if left > 0:
                return run_id, owner, status, left
        if status == RunStatus.COMPENSATING:
            raise PermanentBatchError(
                spec.name, f"the compensation of run {run_id} by {owner} did not finish: run the batch's "
                f"compensation again (DAG {spec.dag_id}__rollback is refused for unfinished runs; trigger "
                "the failed DAG run's compensate task) before loading this interval", run_id=run_id)
        planned = status == RunStatus.LOADING
        new_status = RunStatus.LOADING if planned else RunStatus.EXTRACTING
        cur.execute(d.take_over_run_sql(schema), {"run_id": run_id, "status": new_status.value,
                                                  **_owner_params(me), **_lease(ctx)})
        taken = str(owner) if owner not in (None, me) else None
        if taken:
            log.warning("batch=%s run=%s: took over the attempt from %s (its lease expired)", spec.name, run_id, taken)
        return Begun(run_id, attempt, resumed=True, planned=planned, taken_over_from=taken)


# --------------------------------------------------------------------------- fencing
def fence(cur: Cursor, ctx: BatchContext, run_id: int, *allowed: RunStatus, shared: bool = False) -> RunStatus:
    """Inside a write transaction: stop unless ``ctx.owner`` still owns the run in an allowed status.

    ``shared`` (concurrent lanes) takes a shared row lock and leaves renewal to the chunk commit;
    otherwise the lease is renewed by the same statement that checks it.
    """
    d = ctx.dialect
    if not shared:
        cur.execute(d.renew_lease_sql(ctx.schema), {"run_id": run_id, **_owner_params(ctx.owner),
                                                    "allowed": [s.value for s in allowed], **_lease(ctx)})
        if cur.rowcount == 1:
            return allowed[0] if len(allowed) == 1 else _status(cur, ctx, run_id)
    cur.execute(d.lock_run_sql(ctx.schema, exclusive=False), {"run_id": run_id})
    row = cur.fetchone()
    if row is None:
        raise PermanentBatchError(ctx.spec.name, f"no run {run_id} in {ctx.schema}.runs", run_id=run_id)
    status, owner = RunStatus(row[0]), _owner_of(row[1], row[2])
    if owner != ctx.owner:
        raise NotOwnedError(ctx.spec.name, f"the run now belongs to {owner} (status {status}); {ctx.owner} "
                                           "stops without writing", run_id=run_id)
    if status not in allowed:
        raise NotOwnedError(ctx.spec.name, f"the run is {status}, not {'/'.join(allowed)}: nothing more to do "
                                           "here", run_id=run_id)
    return status


def _status(cur: Cursor, ctx: BatchContext, run_id: int) -> RunStatus:
    cur.execute(ctx.dialect.lock_run_sql(ctx.schema, exclusive=False), {"run_id": run_id})
    return RunStatus(scalar(cur, "the run's status"))


def _set_run(cur: Cursor, ctx: BatchContext, run_id: int, status: RunStatus, **fields: Any) -> None:
    fields = {"status": status.value, **fields}
    cur.execute(ctx.dialect.update_run_sql(ctx.schema, list(fields)), {"run_id": run_id, **fields})


# --------------------------------------------------------------------------- transitions
def planned(cur: Cursor, ctx: BatchContext, run_id: int, **counts: Any) -> None:
    """EXTRACTING -> LOADING, with the plan's counts (inside the plan's transaction)."""
    _set_run(cur, ctx, run_id, RunStatus.LOADING, extracted_at=dt.datetime.now(dt.timezone.utc), **counts)


def insert_chunk(cur: Cursor, ctx: BatchContext, run_id: int, chunk_no: int, seq_lo: int, seq_hi: int,
                 key_lo: str | None, key_hi: str | None, rows_in: int, *,
                 key_from: int | None = None, key_to: int | None = None) -> None:
    """A PENDING chunk of the plan; ``key_from``/``key_to``: a direct chunk's range of the first key."""
    cur.execute(ctx.dialect.insert_chunk_sql(ctx.schema), {
        "run_id": run_id, "chunk_no": chunk_no, "seq_lo": seq_lo, "seq_hi": seq_hi, "key_lo": key_lo,
        "key_hi": key_hi, "rows_in": rows_in, "status": ChunkStatus.PENDING.value,
        "key_from": key_from, "key_to": key_to})


def claim(cur: Cursor, ctx: BatchContext, run_id: int) -> ClaimedChunk | None:
    """Fence (shared), then lock the next pending chunk; other lanes skip it."""
    fence(cur, ctx, run_id, RunStatus.LOADING, shared=True)
    d, params = ctx.dialect, {"run_id": run_id, "pending": ChunkStatus.PENDING.value}
    if d.caps.skip_locked:
        cur.execute(d.claim_chunk_sql(ctx.schema), params)
        row = cur.fetchone()
    else:  # no SKIP LOCKED on this server: try the pending chunks one by one under an advisory lock
        cur.execute(d.pending_chunks_sql(ctx.schema), params)
        row = None
        for (no,) in cur.fetchall():
            cur.execute(d.claim_chunk_by_lock_sql(ctx.schema), {**params, "chunk_no": no})
            row = cur.fetchone()
            if row is not None:
                break
    return ClaimedChunk(row[0], row[1], row[2], row[5]) if row else None


def finish_chunk(cur: Cursor, ctx: BatchContext, run_id: int, chunk: ClaimedChunk, *, written: int, rejected: int,
                 lane: int, inserted_updated: tuple[int, int] | None = None) -> None:
    """PENDING -> DONE with its counts, in the chunk's transaction (its commit renews the lease).

    ``inserted_updated``: rows new to the target and rows that replaced an existing one, where known."""
    inserted, updated = inserted_updated if inserted_updated is not None else (None, None)
    cur.execute(ctx.dialect.finish_chunk_sql(ctx.schema), {
        "run_id": run_id, "chunk_no": chunk.chunk_no, "status": ChunkStatus.DONE.value, "rows_written": written,
        "rows_inserted": inserted, "rows_updated": updated, "rows_rejected": rejected, "lane": lane,
        "started_at": chunk.started_at})


def reset_for_reload(ctx: BatchContext, run_id: int, chunk_nos: list[int]) -> None:
    """DONE -> PENDING for chunks the check found different, so a lane loads them again."""

    def reset(conn: Connection) -> None:
        with conn.cursor() as cur:
            fence(cur, ctx, run_id, RunStatus.LOADING)
            for no in chunk_nos:
                cur.execute(ctx.dialect.set_chunk_status_sql(ctx.schema),
                            {"run_id": run_id, "chunk_no": no, "status": ChunkStatus.PENDING.value})

    ctx.tx(reset, purpose=f"mark chunks {chunk_nos} of run {run_id} for reload")


def fail(ctx: BatchContext, run_id: int, message: str) -> None:
    """EXTRACTING/LOADING -> FAILED: resumable by anyone (the lease is released). Never raises for
    a run this owner no longer holds."""

    def write(conn: Connection) -> None:
        with conn.cursor() as cur:
            try:
                fence(cur, ctx, run_id, RunStatus.EXTRACTING, RunStatus.LOADING)
            except NotOwnedError as exc:
                log.warning("batch=%s run=%s: not marked FAILED: %s", ctx.spec.name, run_id, exc)
                return
            _set_run(cur, ctx, run_id, RunStatus.FAILED, message=message[:2000],
                     lease_until=dt.datetime.now(dt.timezone.utc))

    ctx.tx(write, purpose=f"mark run {run_id} FAILED")


def compensating(ctx: BatchContext, run_id: int, *, manual: bool) -> bool:
    """-> COMPENSATING, stopping the attempt's lanes (their next fence fails). False when another
    live DAG run owns the attempt: then this one leaves it alone."""
    d, me = ctx.dialect, ctx.owner

    def start(conn: Connection) -> bool:
        with conn.cursor() as cur:
            cur.execute(d.lock_run_sql(ctx.schema, exclusive=True), {"run_id": run_id})
            status, dag_id, dag_run, _ = one_row(cur, "the run")
            status, owner = RunStatus(status), _owner_of(dag_id, dag_run)
            if manual:
                if status not in (RunStatus.DONE, RunStatus.COMPENSATING):
                    raise PermanentBatchError(ctx.spec.name, f"only a finished run can be rolled back by hand "
                                                             f"(status {status})", run_id=run_id)
            elif owner != me and status != RunStatus.FAILED and _lease_left(cur, ctx, run_id) > 0:
                log.warning("batch=%s run=%s: owned by %s (status %s): %s does not compensate it",
                            ctx.spec.name, run_id, owner, status, me)
                return False
            elif status == RunStatus.DONE:
                raise PermanentBatchError(ctx.spec.name, "the run is DONE: roll it back with the rollback DAG",
                                          run_id=run_id)
            cur.execute(d.take_over_run_sql(ctx.schema), {"run_id": run_id, "status": RunStatus.COMPENSATING.value,
                                                          **_owner_params(me), **_lease(ctx)})
            return True

    return ctx.tx(start, purpose=f"start compensating run {run_id}")


def compensate_chunk(cur: Cursor, ctx: BatchContext, run_id: int, chunk_no: int) -> None:
    """DONE -> COMPENSATED (fenced: the caller's transaction also replays its journal)."""
    fence(cur, ctx, run_id, RunStatus.COMPENSATING)
    cur.execute(ctx.dialect.set_chunk_status_sql(ctx.schema),
                {"run_id": run_id, "chunk_no": chunk_no, "status": ChunkStatus.COMPENSATED.value})


def compensated(ctx: BatchContext, run_id: int, reason: str) -> None:
    def write(conn: Connection) -> None:
        with conn.cursor() as cur:
            fence(cur, ctx, run_id, RunStatus.COMPENSATING)
            _set_run(cur, ctx, run_id, RunStatus.COMPENSATED, finished_at=dt.datetime.now(dt.timezone.utc),
                     message=(reason or "compensated")[:2000], lease_until=dt.datetime.now(dt.timezone.utc))

    ctx.tx(write, purpose=f"mark run {run_id} COMPENSATED")


def finish_run(ctx: BatchContext, run_id: int) -> tuple[int, int, int]:
    """LOADING -> DONE with its totals, one transaction; returns (chunks, rows written, rejects)."""
    d = ctx.dialect

    def write(conn: Connection) -> tuple[int, int, int]:
        with conn.cursor() as cur:
            fence(cur, ctx, run_id, RunStatus.LOADING)
            cur.execute(d.chunk_totals_sql(ctx.schema), {"run_id": run_id, "done": ChunkStatus.DONE.value})
            chunks, pending, written, _ = one_row(cur, "the chunk totals")
            if pending:
                raise PermanentBatchError(ctx.spec.name, f"{pending} chunks are not DONE; cannot finalize",
                                          run_id=run_id)
            cur.execute(d.run_rejects_count_sql(ctx.schema), {"run_id": run_id})
            rejected = int(scalar(cur, "the rejects count") or 0)
            now = dt.datetime.now(dt.timezone.utc)
            _set_run(cur, ctx, run_id, RunStatus.DONE, rows_loaded=int(written or 0), rows_rejected=rejected,
                     finished_at=now, message=None, lease_until=now)
            return int(chunks or 0), int(written or 0), rejected

    return ctx.tx(write, purpose=f"finish run {run_id}")
