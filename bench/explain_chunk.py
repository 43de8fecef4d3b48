"""EXPLAIN ANALYZE of one chunk's statements, as a lane would run them, then rolled back.

    . scripts/env.sh && python bench/explain_chunk.py [--same-db] [--chunk N]

Needs a run left in the bench's control schema (run `BENCH_METHODS=engine_cross_db
BENCH_NO_REPORT=1 BENCH_SCALES=0.1 python bench/run.py` first): the target holds that
run's rows, so the plans are those of a pre-filled target. Nothing is changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CONTROL, set_airflow_connections  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--same-db", action="store_true")
    ap.add_argument("--chunk", type=int, default=None, help="chunk number (default: the middle one)")
    ap.add_argument("--dialect", default="postgres")
    ap.add_argument("--plan-only", action="store_true", help="EXPLAIN without ANALYZE (runs nothing)")
    ap.add_argument("--proposed", action="store_true",
                    help="also explain the statements with the planner left free (no plan pins), to compare")
    args = ap.parse_args()
    set_airflow_connections(args.dialect)
    import methods

    ctx, _ = methods._engine(args.same_db, 10_000, 1)
    d, _cols, _keys = ctx.dialect, ctx.columns, ctx.key_columns  # metadata first: no nested transactions
    run_id = ctx.one(f"SELECT max(run_id) FROM {CONTROL}.runs", purpose="find the bench's latest run")[0]
    ld = ctx.landing_dialect(run_id)  # the statements a lane runs on this run's landing (typed or text)

    def explain(conn):
        with conn.cursor() as cur:
            cur.execute(f"SELECT chunk_no, seq_lo, seq_hi FROM {CONTROL}.chunks WHERE run_id = %s ORDER BY chunk_no",
                        (run_id,))
            chunks = cur.fetchall()
            no, lo, hi = chunks[args.chunk - 1] if args.chunk else chunks[len(chunks) // 2]
            params = {"run_id": run_id, "chunk_no": no, "lo": lo, "hi": hi}
            landing = ctx.landing(run_id)
            stmts = [("undo capture", ld.capture_undo_sql(ctx.undo, ctx.target, landing, ctx.columns,
                                                          ctx.key_columns))]
            stmts += [("write", s) for s in ld.write_sql(ctx.spec.mode, ctx.target, landing, ctx.columns,
                                                           ctx.key_columns)]
            print(f"run {run_id}, chunk {no} (seq {lo}..{hi}), {len(chunks)} chunks, "
                  f"{'typed' if ld.typed_landing else 'text'} landing")
            variants = [("plans pinned as a lane pins them", d.chunk_plan_settings_sql())]
            if args.proposed:
                variants.append(("planner left free", d.chunk_plan_settings_sql(pinned=False)))
            for label, settings in variants:
                # Each variant starts from the same state: its writes roll back to the savepoint.
                cur.execute("SAVEPOINT explain_variant")
                cur.execute(settings)
                for name, sql in stmts:
                    how = "" if args.plan_only else "(ANALYZE, BUFFERS, TIMING OFF) "
                    cur.execute("EXPLAIN " + how + sql, params)
                    print(f"\n-- {name} ({label})\n" + "\n".join(r[0] for r in cur.fetchall()))
                cur.execute("ROLLBACK TO SAVEPOINT explain_variant")
        raise _Rollback

    class _Rollback(Exception):
        pass

    try:
        ctx.tx(explain, purpose="explain one chunk")
    except _Rollback:
        pass
    ctx.close()


if __name__ == "__main__":
    main()
