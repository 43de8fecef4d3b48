"""Reconciliation: prove each chunk's target rows equal its landed rows, inside the database.

Per chunk, landing and target are compared by row count and an order-independent,
NULL-safe fingerprint (a sum of 60-bit row hashes); no row data reaches Python. Every
comparison is stored in the reconciliation table. Chunks that differ are reloaded once
and compared again; anything still different fails the check and names the chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gaussdb_batch import metrics
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.errors import PermanentBatchError

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
    mismatched_first_pass: list[int]
    repaired: list[int]
    rows: int


def _chunks(ctx: BatchContext, run_id: int) -> list[tuple]:
    def read(conn: Any) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(ctx.dialect.list_chunks_sql(ctx.schema), {"run_id": run_id})
            return cur.fetchall()

    return ctx.tx(read, purpose=f"list the chunks of run {run_id}")


def _groups(rows: list[tuple], wanted: list[int]) -> list[list[tuple]]:
    """Consecutive, equal-sized chunks (the last of a run may be shorter), at most N per group."""
    groups: list[list[tuple]] = []
    for row in (r for r in rows if r[0] in set(wanted)):
        g = groups[-1] if groups else None
        if (g and len(g) < CHUNKS_PER_STATEMENT and row[0] == g[-1][0] + 1 and row[1] == g[-1][2] + 1
                and g[-1][2] - g[-1][1] == g[0][2] - g[0][1] and row[2] - row[1] <= g[0][2] - g[0][1]):
            g.append(row)
        else:
            groups.append([row])
    return groups


def compare_chunks(ctx: BatchContext, run_id: int, chunk_nos: list[int], *, pass_no: int) -> list[ChunkComparison]:
    """Compare the given chunks and store every comparison; return them."""
    d, landing = ctx.dialect, ctx.landing(run_id)
    src_sql = d.landing_fingerprints_sql(ctx.schema, landing, ctx.columns)
    tgt_sql = d.target_fingerprints_sql(ctx.schema, ctx.target, landing, ctx.columns, ctx.key_columns)
    results: list[ChunkComparison] = []
    for group in _groups(_chunks(ctx, run_id), sorted(chunk_nos)):
        first, last = group[0], group[-1]
        params = {"run_id": run_id, "first": first[0], "lo": first[1], "hi": last[2], "size": first[2] - first[1] + 1}

        def compare(conn: Any, group: list[tuple] = group) -> list[ChunkComparison]:
            with conn.cursor() as cur:
                cur.execute(src_sql, params)
                src = {r[0]: (int(r[1]), int(r[2])) for r in cur.fetchall()}
                # The target side probes the target's key index per landed row, like a chunk does.
                cur.execute(d.chunk_plan_settings_sql())
                cur.execute(tgt_sql, params)
                tgt = {r[0]: (int(r[1]), int(r[2])) for r in cur.fetchall()}
                out = []
                for no, _lo, _hi, key_lo, key_hi, _status in group:
                    s, t = src.get(no, (0, 0)), tgt.get(no, (0, 0))
                    c = ChunkComparison(no, key_lo, key_hi, s[0], t[0], s[1], t[1])
                    cur.execute(
                        d.insert_reconciliation_sql(ctx.schema),
                        {"run_id": run_id, "chunk_no": no, "pass": pass_no, "key_lo": c.key_lo,
                         "key_hi": c.key_hi, "source_rows": c.source_rows, "target_rows": c.target_rows,
                         "source_hash": c.source_hash, "target_hash": c.target_hash,
                         "status": "MATCH" if c.matches else "MISMATCH"},
                    )
                    out.append(c)
                return out

        results += ctx.tx(compare, purpose=f"compare chunks {first[0]}..{last[0]} of run {run_id}")
    return results


def _reset_chunks(ctx: BatchContext, run_id: int, chunk_nos: list[int]) -> None:
    d = ctx.dialect

    def reset(conn: Any) -> None:
        with conn.cursor() as cur:
            for no in chunk_nos:
                cur.execute(d.set_chunk_status_sql(ctx.schema), {"run_id": run_id, "chunk_no": no, "status": "PENDING"})

    ctx.tx(reset, purpose=f"mark chunks {chunk_nos} of run {run_id} for reload")


def _clear_previous_passes(ctx: BatchContext, run_id: int) -> None:
    def clear(conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute(ctx.dialect.delete_run_rows_sql(ctx.schema, "reconciliation"), {"run_id": run_id})

    ctx.tx(clear, purpose=f"clear earlier comparisons of run {run_id}")


def check_run(ctx: BatchContext, run_id: int) -> CheckResult:
    """Compare every chunk; reload mismatches once; fail naming the chunks still different."""
    from gaussdb_batch.engine.load import run_lane

    spec = ctx.prepare().spec
    chunks = _chunks(ctx, run_id)
    pending = [row[0] for row in chunks if row[5] != "DONE"]
    if pending:
        raise PermanentBatchError(spec.name, f"chunks {pending} were never loaded; the load did not finish", run_id=run_id)
    _clear_previous_passes(ctx, run_id)
    all_nos = [row[0] for row in chunks]
    first = compare_chunks(ctx, run_id, all_nos, pass_no=1) if all_nos else []
    bad = [c.chunk_no for c in first if not c.matches]
    rows = sum(c.source_rows for c in first)
    if bad:
        metrics.check_mismatches(spec.name, len(bad))
        log.warning("batch=%s run=%s: chunks %s differ from their landing; reloading them once", spec.name, run_id, bad)
        _reset_chunks(ctx, run_id, bad)
        run_lane(ctx, run_id, lane=-1)
        second = compare_chunks(ctx, run_id, bad, pass_no=2)
        still = [c for c in second if not c.matches]
        if still:
            detail = "; ".join(
                f"chunk {c.chunk_no} keys {c.key_lo}..{c.key_hi}: {c.source_rows} landed vs {c.target_rows} in target"
                for c in still
            )
            raise PermanentBatchError(spec.name, f"target differs from the source after repair: {detail}", run_id=run_id)
    log.info("batch=%s run=%s: %s chunks, %s rows match (repaired: %s)", spec.name, run_id, len(all_nos), rows, bad or "none")
    return CheckResult(run_id, len(all_nos), bad, bad, rows)
