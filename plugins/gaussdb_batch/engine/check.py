"""The check stage: prove each chunk's target rows equal its landed rows, inside the database.

Per chunk, landing and target are compared by row count and an order-independent,
NULL-safe fingerprint (a sum of 32-bit row hashes over typed values, ``Dialect.row_hash_expr``); no row data reaches Python. Every
comparison is stored in the reconciliation table. The stage runs in four explicit steps:
compare every chunk, reset the chunks that differ to PENDING, reload them on the repair lane
(``state.REPAIR_LANE``), compare them again; anything still different fails the check and
names the chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gaussdb_batch import metrics
from gaussdb_batch.engine import state
from gaussdb_batch.engine.choices import LoadMode, Match
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.control import Run
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.engine.rejects import count_rejects
from gaussdb_batch.engine.state import PURGE_CHUNK, REPAIR_LANE, Chunk, ChunkStatus, RunStatus
from gaussdb_batch.hooks.dbapi import Connection, Cursor, one_row

#: Chunks compared per statement: bounds each statement's work, not the transaction's.
CHUNKS_PER_STATEMENT = 64


@dataclass(frozen=True)
class ChunkComparison:
    chunk_no: int
    key_lo: str | None
    key_hi: str | None
    source_rows: int
    target_rows: int
    source_hash: int
    target_hash: int

    @property
    def matches(self) -> bool:
        return self.source_rows == self.target_rows and self.source_hash == self.target_hash


@dataclass(frozen=True)
class CheckResult:
    run_id: int
    chunks: int
    #: Chunks the first comparison found different from their landing.
    mismatched_first_pass: list[int]
    #: Of those, the chunks that matched after the repair's reload.
    repaired: list[int]
    rows: int
    #: Of those, the chunks still different after the reload (the check raises CheckFailed naming them).
    still_different: list[int] = field(default_factory=list)


class CheckFailed(PermanentBatchError):
    """Chunks still differ from their landing after the repair; ``result`` says which and what was repaired."""

    def __init__(self, batch: str, message: str, *, result: CheckResult):
        super().__init__(batch, message, run_id=result.run_id)
        self.result = result


def _chunks(ctx: BatchContext, run_id: int) -> list[Chunk]:
    rows = ctx.all(ctx.dialect.list_chunks_sql(ctx.schema), {"run_id": run_id},
                   purpose=f"list the chunks of run {run_id}")
    return [Chunk(*r) for r in rows]


def _size(c: Chunk) -> int:
    return c.seq_hi - c.seq_lo


def _groups(rows: list[Chunk], wanted: list[int]) -> list[list[Chunk]]:
    """Consecutive, equal-sized chunks (the last of a run may be shorter), at most N per group."""
    groups: list[list[Chunk]] = []
    want = set(wanted)
    for c in (r for r in rows if r.chunk_no in want):
        g = groups[-1] if groups else None
        if (g and len(g) < CHUNKS_PER_STATEMENT and c.chunk_no == g[-1].chunk_no + 1
                and c.seq_lo == g[-1].seq_hi + 1 and _size(g[-1]) == _size(g[0]) and _size(c) <= _size(g[0])):
            g.append(c)
        else:
            groups.append([c])
    return groups


def compare_chunks(ctx: BatchContext, run_id: int, chunk_nos: list[int], *, pass_no: int) -> list[ChunkComparison]:
    """Compare the given chunks and store every comparison; return them."""
    d, landing = ctx.landing_dialect(run_id), ctx.landing(run_id)
    src_sql = d.landing_fingerprints_sql(ctx.schema, landing, ctx.columns)
    # Every lane has finished (check_run makes sure): no reject can appear while the chunks are compared.
    tgt_sql = d.target_fingerprints_sql(ctx.schema, ctx.target, landing, ctx.columns, ctx.key_columns,
                                        rejects=count_rejects(ctx, run_id) > 0)
    results: list[ChunkComparison] = []
    chunks = _chunks(ctx, run_id)
    if ctx.spec.mode == LoadMode.DELETE_INSERT and PURGE_CHUNK in chunk_nos:
        purge = next(c for c in chunks if c.chunk_no == PURGE_CHUNK)
        results.append(_compare_interval_rest(ctx, run_id, purge, pass_no=pass_no))
        chunk_nos = [n for n in chunk_nos if n != PURGE_CHUNK]
    for group in _groups(chunks, sorted(chunk_nos)):
        first, last = group[0], group[-1]
        params = {"run_id": run_id, "first": first.chunk_no, "lo": first.seq_lo, "hi": last.seq_hi,
                  "size": _size(first) + 1}

        def compare(conn: Connection, group: list[Chunk] = group) -> list[ChunkComparison]:
            with conn.cursor() as cur:
                state.fence(cur, ctx, run_id, RunStatus.LOADING)
                src = _landing_side(cur, ctx, run_id, group, params, src_sql)
                # The target side probes the target's key index per landed row, like a chunk does
                # (the landed rows, not the seq span: a direct run's chunks span more seqs than rows).
                ctx.size_plans(cur, sum(n for n, _ in src.values()))
                cur.execute(tgt_sql, params)
                tgt = {r[0]: (int(r[1]), int(r[2])) for r in cur.fetchall()}
                out = []
                for chunk in group:
                    no = chunk.chunk_no
                    s, t = src.get(no, (0, 0)), tgt.get(no, (0, 0))
                    c = ChunkComparison(no, chunk.key_lo, chunk.key_hi, s[0], t[0], s[1], t[1])
                    _store(cur, ctx, run_id, c, pass_no)
                    out.append(c)
                return out

        results += ctx.tx(compare, purpose=f"compare chunks {first.chunk_no}..{last.chunk_no} of run {run_id}")
    return results


def _store(cur: Cursor, ctx: BatchContext, run_id: int, c: ChunkComparison, pass_no: int) -> None:
    cur.execute(
        ctx.dialect.insert_reconciliation_sql(ctx.schema),
        {"run_id": run_id, "chunk_no": c.chunk_no, "pass": pass_no, "key_lo": c.key_lo,
         "key_hi": c.key_hi, "source_rows": c.source_rows, "target_rows": c.target_rows,
         "source_hash": c.source_hash, "target_hash": c.target_hash,
         "status": (Match.MATCH if c.matches else Match.MISMATCH).value},
    )


def _compare_interval_rest(ctx: BatchContext, run_id: int, purge: Chunk, *, pass_no: int) -> ChunkComparison:
    """delete_insert owns the whole interval: the purge chunk's comparison is the interval's target
    rows whose key the run did not land (an extra row, or a row moved to a key the source does not
    have). The landed side of it is empty: any such row is a mismatch, and the repair's reload of the
    purge chunk deletes them (journaled, so compensation puts them back)."""
    d, landing = ctx.landing_dialect(run_id), ctx.landing(run_id)

    def compare(conn: Connection) -> ChunkComparison:
        with conn.cursor() as cur:
            state.fence(cur, ctx, run_id, RunStatus.LOADING)
            cur.execute(d.get_run_sql(ctx.schema), {"run_id": run_id})
            run = Run(*one_row(cur, f"run {run_id}"))
            # a repair run (repair_of set) owns its differing keys, not an interval
            key_set = ctx.key_set(run_id) if run.repair_of is not None else None
            sql = d.interval_extra_fingerprint_sql(ctx.target, landing, ctx.columns, ctx.key_columns,
                                                   ctx.spec.target.interval, key_set)
            cur.execute(sql, {"start": run.interval_start, "end": run.interval_end})
            rows, hashed = one_row(cur, "the interval's other rows")
            c = ChunkComparison(purge.chunk_no, None, None, 0, int(rows), 0, int(hashed))
            _store(cur, ctx, run_id, c, pass_no)
            return c

    return ctx.tx(compare, purpose=f"compare the rest of the interval of run {run_id} (chunk {purge.chunk_no})")


def _landing_side(cur: Cursor, ctx: BatchContext, run_id: int, group: list[Chunk], params: dict,
                  src_sql: str) -> dict[int, tuple[int, int]]:
    """Per chunk: landed rows and hash, rejects excluded.

    From the plan when it stored them (typed landings): the stored figures minus the rows
    rejected since (read through the rejects, a few rows), so the landing is not scanned again.
    Otherwise (a text landing, a plan older than the stored figures) computed from the landing.
    """
    d, landing = ctx.landing_dialect(run_id), ctx.landing(run_id)
    cur.execute(d.stored_fingerprints_sql(ctx.schema), {"run_id": run_id, "first": group[0].chunk_no,
                                                       "last": group[-1].chunk_no})
    stored = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    if not d.typed_landing or any(stored.get(c.chunk_no, (None, None))[0] is None for c in group):
        cur.execute(src_sql, params)
        return {r[0]: (int(r[1]), int(r[2])) for r in cur.fetchall()}
    cur.execute(d.rejected_fingerprints_sql(ctx.schema, landing, ctx.columns), params)
    gone = {r[0]: (int(r[1]), int(r[2])) for r in cur.fetchall()}
    return {no: (int(n) - gone.get(no, (0, 0))[0], int(h) - gone.get(no, (0, 0))[1]) for no, (n, h) in stored.items()}


def _clear_previous_passes(ctx: BatchContext, run_id: int) -> None:
    def clear(conn: Connection) -> None:
        with conn.cursor() as cur:
            state.fence(cur, ctx, run_id, RunStatus.LOADING)
            cur.execute(ctx.dialect.delete_run_rows_sql(ctx.schema, "reconciliation"), {"run_id": run_id})

    ctx.tx(clear, purpose=f"clear earlier comparisons of run {run_id}")


def repair(ctx: BatchContext, run_id: int, chunk_nos: list[int]) -> list[ChunkComparison]:
    """The repair step: reset the chunks that differ, reload them on the repair lane, compare them again.

    The reload journals what it overwrites like any chunk, so compensation still undoes it.
    """
    state.reset_for_reload(ctx, run_id, chunk_nos)
    run_lane(ctx, run_id, lane=REPAIR_LANE)
    return compare_chunks(ctx, run_id, chunk_nos, pass_no=2)


def check_run(ctx: BatchContext, run_id: int) -> CheckResult:
    """Compare every chunk; repair the mismatches once; fail naming the chunks still different."""
    spec = ctx.prepare().spec
    chunks = _chunks(ctx, run_id)
    pending = [c.chunk_no for c in chunks if c.status != ChunkStatus.DONE]
    if pending:
        raise PermanentBatchError(spec.name, f"chunks {pending} were never loaded; the load did not finish", run_id=run_id)
    _clear_previous_passes(ctx, run_id)
    all_nos = [c.chunk_no for c in chunks]
    first = compare_chunks(ctx, run_id, all_nos, pass_no=1) if all_nos else []
    bad = [c.chunk_no for c in first if not c.matches]
    rows = sum(c.source_rows for c in first)
    second: list[ChunkComparison] = []
    if bad:
        metrics.check_mismatches(spec.name, len(bad))
        log.warning("batch=%s run=%s: chunks %s differ from their landing; reloading them once", spec.name, run_id, bad)
        second = repair(ctx, run_id, bad)
    still = [c for c in second if not c.matches]
    result = CheckResult(run_id, len(all_nos), bad, [c.chunk_no for c in second if c.matches], rows,
                         [c.chunk_no for c in still])
    if still:
        detail = "; ".join(
            f"chunk {c.chunk_no} keys {c.key_lo}..{c.key_hi}: {c.source_rows} landed vs {c.target_rows} in target"
            for c in still
        )
        raise CheckFailed(spec.name, f"target differs from the source after repair: {detail}", result=result)
    log.info("batch=%s run=%s: %s chunks, %s rows match (repaired: %s)", spec.name, run_id, len(all_nos), rows,
             result.repaired or "none")
    return result
