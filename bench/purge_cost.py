"""delete_insert's purge chunk: seconds and landing reads for an interval of N rows, pinned vs free plans.

    . scripts/env.sh && python bench/purge_cost.py [--rows 30000 120000] [--pinned-timeout 180]

The purge journals and deletes the interval's target rows whose key vanished at the source: an
anti join of the interval's target rows against the whole landing (which has no key index).
``pinned`` runs it under the per-row plan settings of a small chunk (what the purge chunk, seq
0..0, got before), ``free`` under what the lane uses now (engine.load.plan_chunk). Each variant
runs in a transaction that is rolled back; 5% of the target's rows vanished at the source. The
target and source live in scratch schemas of the test databases (gbtarget, gbsource), dropped at
the end. Pinned runs are cancelled after --pinned-timeout seconds (they grow with N squared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

from bench.common import dsn, pg_env  # noqa: E402

UTC = dt.timezone.utc
D1, D4 = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)
DBS = {"target": "gbtarget", "source": "gbsource"}


def _setup(schema: str, rows: int) -> None:
    import psycopg2

    from tests.integration.engine.conftest import ORDERS_DDL, make_orders

    table = f'"{schema}".orders'
    for role, db in DBS.items():
        with psycopg2.connect(dsn(db)) as c, c.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
            cur.execute(ORDERS_DDL.format(t=table))
            make_orders(cur, table, rows if role == "target" else rows - rows // 20)
            cur.execute(f"ANALYZE {table}")


def _drop(schema: str) -> None:
    import psycopg2

    for db in DBS.values():
        c = psycopg2.connect(dsn(db))
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            cur.execute(f'DROP SCHEMA IF EXISTS "c_{schema}" CASCADE')
        c.close()


def _landing_loops(plan: dict, landing: str) -> int:
    own = int(plan["Actual Loops"]) if plan.get("Relation Name") == landing else 0
    return max([own] + [_landing_loops(p, landing) for p in plan.get("Plans", [])])


def _purge(ctx, run_id: int, *, pinned: bool, timeout: float) -> tuple[float | None, int | None]:
    """Seconds of the purge's statements (None when cancelled) and the most loops of a landing scan."""
    from gaussdb_batch.engine.load import plan_chunk, purge_statements
    from gaussdb_batch.engine.state import PURGE_CHUNK

    params = {"run_id": run_id, "chunk_no": PURGE_CHUNK, "start": D1, "end": D4}
    statements = purge_statements(ctx, run_id)
    conn = ctx.target_hook.get_conn()
    loops = 0
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(timeout * 1000)}",))
            if pinned:
                ctx.size_plans(cur, 1)  # the purge chunk's seq 0..0, sized as a one-row chunk
            else:
                plan_chunk(cur, ctx, PURGE_CHUNK, 1)
            t0 = time.monotonic()
            for stmt in statements:
                try:
                    cur.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {stmt}", params)
                except ctx.target_hook.driver.Error as exc:
                    if ctx.target_hook.driver.sqlstate(exc) == "57014":
                        return None, None
                    raise
                raw = cur.fetchone()[0]
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
                loops = max(loops, _landing_loops(plan, ctx.landing(run_id).name))
            return time.monotonic() - t0, loops
    finally:
        conn.rollback()
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[30_000, 120_000])
    ap.add_argument("--pinned-timeout", type=float, default=180.0)
    ap.add_argument("--dialect", default="gaussdb")
    args = ap.parse_args()
    from gaussdb_batch.engine.context import BatchContext
    from gaussdb_batch.engine.extract import extract
    from gaussdb_batch.engine.spec_parser import parse_spec
    from gaussdb_batch.hooks.gaussdb import GaussDBHook

    e = pg_env()
    for conn_id, db in (("GBB_PURGE_SRC", DBS["source"]), ("GBB_PURGE_DST", DBS["target"])):
        os.environ[f"AIRFLOW_CONN_{conn_id}"] = json.dumps({
            "conn_type": "gaussdb", "host": e["HOST"], "port": int(e["PORT"]), "login": e["USER"],
            "password": e["PASSWORD"], "schema": db, "extra": {"dialect": args.dialect}})
    print(f"{'rows':>8} {'variant':>7} {'seconds':>9} {'landing loops':>14}")
    for rows in args.rows:
        schema = f"bp_{uuid.uuid4().hex[:8]}"
        try:
            _setup(schema, rows)
            spec = parse_spec({
                "name": "purge_bench", "schedule": "0 0 * * *", "mode": "delete_insert", "keys": ["o_orderkey"],
                "chunk_rows": 10_000, "control_schema": f"c_{schema}",
                "source": {"conn_id": "gbb_purge_src", "table": f"{schema}.orders", "interval_column": "o_orderdate"},
                "target": {"conn_id": "gbb_purge_dst", "table": f"{schema}.orders"},
            })
            ctx = BatchContext(spec, hook_factory=lambda cid: GaussDBHook(gaussdb_conn_id=cid))
            run_id = extract(ctx, D1, D4).run_id
            for variant, pinned in (("free", False), ("pinned", True)):
                seconds, loops = _purge(ctx, run_id, pinned=pinned, timeout=args.pinned_timeout)
                shown = f"{seconds:9.2f}" if seconds is not None else f">{args.pinned_timeout:7.0f}s"
                print(f"{rows:>8} {variant:>7} {shown} {loops if loops is not None else '-':>14}", flush=True)
            ctx.close()
        finally:
            _drop(schema)


if __name__ == "__main__":
    main()
