"""Planning: reject duplicate keys, cut the landing into chunks and mark the run LOADING, in one transaction.

Each chunk is a range of landing seqs (``_gb_seq``) of at most the chunk size (the spec's,
or the adapted size of an adaptive batch), labelled with the keys at its bounds for people
reading the plan. While the landing is hot the plan also stores each chunk's landing
fingerprint, the check's landing side. The plan transaction is fenced: it writes only
while this DAG run owns the attempt.
"""

from __future__ import annotations

from typing import Any

from gaussdb_batch.engine import state
from gaussdb_batch.engine.choices import LoadMode, RejectStage, SourceKind
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.control import chunk_rows_in
from gaussdb_batch.engine.files import FileReject
from gaussdb_batch.engine.rejects import insert_reject
from gaussdb_batch.engine.state import PURGE_CHUNK, RunStatus
from gaussdb_batch.hooks.dbapi import Connection, Cursor, one_row

#: Chunk rows updated per statement when the plan stores the landing fingerprints.
STORE_BATCH = 500


def source_keys_are_unique(ctx: BatchContext) -> bool:
    """True when a table source has a primary key or unique index on exactly the batch's keys.

    Then no interval can hold a key twice and the duplicate-key scan of the landing is skipped.
    """
    src = ctx.spec.source
    if src.kind != SourceKind.TABLE or src.table is None:
        return False
    d = ctx.dialect
    params = {"schema": src.table.schema, "table": src.table.name}

    def read(conn: Connection) -> bool:
        with conn.cursor() as cur:
            cur.execute(d.column_numbers_sql(), params)
            names = {int(n): name for n, name in cur.fetchall()}
            cur.execute(d.unique_indexes_sql(), params)
            return any({names.get(int(n)) for n in str(indkey).split()} == set(ctx.spec.keys)
                       for (indkey,) in cur.fetchall())

    return bool(ctx.source_hook.run_in_transaction(read, purpose=f"{ctx.spec.name}: read the source's unique keys"))


def plan(ctx: BatchContext, run_id: int, file_rejects: list[FileReject],
          keys_unique_at_source: bool = False) -> tuple[int, int, int, int]:
    """Reject duplicate keys, split the landing into chunks, mark the run LOADING: one transaction."""
    spec, d = ctx.spec, ctx.dialect
    landing = ctx.landing(run_id)

    def plan_in(conn: Connection) -> tuple[int, int, int, int]:
        with conn.cursor() as cur:
            state.fence(cur, ctx, run_id, RunStatus.EXTRACTING)
            cr = chunk_rows_in(cur, ctx)  # the spec's, or the adapted size of an adaptive batch
            for r in file_rejects:
                insert_reject(cur, ctx, run_id, stage=RejectStage.EXTRACT, seq=r.seq, sqlstate=r.sqlstate,
                              message=r.message, values=r.values)
            dups = 0 if keys_unique_at_source else _reject_duplicates(cur, ctx, run_id)
            rejected = len(file_rejects) + dups
            cur.execute(d.landing_stats_sql(landing))
            rows, lo, hi = one_row(cur, f"the landing statistics of run {run_id}")
            chunks = []
            if rows:
                start = lo
                while start <= hi:
                    chunks.append((start, min(start + cr - 1, hi)))
                    start += cr
            bounds = _boundary_keys(cur, ctx, landing, chunks)
            if spec.mode == LoadMode.DELETE_INSERT:
                # Chunk 0 deletes the interval's target rows that vanished at the source.
                state.insert_chunk(cur, ctx, run_id, PURGE_CHUNK, 0, 0, None, None, 0)
            for no, (a, b) in enumerate(chunks, start=1):
                state.insert_chunk(cur, ctx, run_id, no, a, b, bounds.get(a), bounds.get(b), b - a + 1)
            if chunks and ctx.landing_layout_known(run_id):
                _store_landing_fingerprints(cur, ctx, run_id, lo, hi, cr)
            state.planned(cur, ctx, run_id, rows_extracted=rows + rejected, rows_rejected=rejected, rows_loaded=0,
                          chunks_total=len(chunks) + (spec.mode == LoadMode.DELETE_INSERT))
            return rows, rejected, len(chunks), cr

    return ctx.tx(plan_in, purpose=f"plan the chunks of run {run_id}")


def _store_landing_fingerprints(cur: Cursor, ctx: BatchContext, run_id: int, lo: int, hi: int, size: int) -> None:
    """The check's landing side, once, while the landing is hot; every value is typed already.

    A read-only SELECT (the server may scan in parallel), then one UPDATE of the chunk rows per
    STORE_BATCH chunks.
    """
    d = ctx.dialect.for_landing(True)
    cur.execute(d.landing_fingerprints_sql(ctx.schema, ctx.landing(run_id), ctx.columns),
                {"run_id": run_id, "first": 1, "lo": lo, "hi": hi, "size": size})
    figures = cur.fetchall()
    for at in range(0, len(figures), STORE_BATCH):
        batch = figures[at:at + STORE_BATCH]
        params: dict = {"run_id": run_id}
        for i, (no, n, h) in enumerate(batch):
            params.update({f"c{i}": int(no), f"n{i}": int(n), f"h{i}": int(h)})
        cur.execute(d.store_landing_fingerprints_sql(ctx.schema, len(batch)), params)


def _reject_duplicates(cur: Cursor, ctx: BatchContext, run_id: int) -> int:
    """Keep the first row of each key; every later one goes to rejects (SQLSTATE 21000)."""
    d, landing = ctx.dialect, ctx.landing(run_id)
    cur.execute(d.duplicate_keys_sql(landing, ctx.key_columns))
    seqs = [r[0] for r in cur.fetchall()]
    if not seqs:
        return 0
    cur.execute(d.landing_rows_sql(landing, ctx.columns), {"seqs": seqs})
    names = [c.name for c in ctx.columns]
    src = ctx.spec.source
    kept = (f"the row with the greatest {', '.join(src.tie_break)} is kept" if src.tie_break else
            "the first row of the key in file order is kept" if src.kind == SourceKind.FILES else
            "which row of the key is kept is unspecified: set source.tie_break")
    for row in cur.fetchall():
        insert_reject(cur, ctx, run_id, stage=RejectStage.EXTRACT, seq=row[0], sqlstate="21000",
                      message=f"duplicate key inside the source interval ({kept})", values=dict(zip(names, row[1:])))
    cur.execute(d.delete_landing_rows_sql(landing), {"seqs": seqs})
    log.warning("batch=%s run=%s: %s rows rejected for duplicate keys (%s)", ctx.spec.name, run_id, len(seqs), kept)
    return len(seqs)


def _boundary_keys(cur: Cursor, ctx: BatchContext, landing: Any, chunks: list[tuple[int, int]]) -> dict[int, str]:
    """Key text at each chunk's first and last seq, for people reading the plan."""
    if not chunks:
        return {}
    seqs = sorted({s for pair in chunks for s in pair})
    cur.execute(ctx.dialect.boundary_keys_sql(landing, ctx.key_columns), {"seqs": seqs})
    return {row[0]: ctx.key_text(row[1:]) for row in cur.fetchall()}
