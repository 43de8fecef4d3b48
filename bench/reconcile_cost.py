"""What the scheduled reconciliation costs: TPC-H lineitem, source against target, report mode.

For each scale: fills the bench source (``bench/data.py``), copies it into the target as it is
(untimed), then in a child process each (so peak RSS is the reconciliation's own):

- ``equal``: a reconciliation of the whole table that finds no difference;
- ``planted``: after 100 scattered differences were planted in the target (34 changed: a sign
  flipped, 33 missing: deleted, 33 extra: a key the source does not have), a reconciliation that
  must report exactly those 100 and nothing else;
- ``full scan``: fetching every row of both sides to the worker (what a naive compare moves).

Beside them, the engine's extract and load of the same rows into an empty target (``engine_cross_db``
in bench/results/results.json, measured by ``make bench``, with the commit it measured), when that
file has the scale: the reconciliation's time against the load's and against the full scan.

Figures, not pass/fail (an inexact report exits 1):

    . scripts/env.sh && flock /tmp/bench.lock python bench/reconcile_cost.py [--scales 0.1 1] [--parallel 2] \
        [--leaf-rows 2000] [--reuse-source]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CONTROL, DST_DB, KEYS, SOURCE, SRC_DB, TARGET, dsn, peak_rss_bytes, set_airflow_connections, table_ddl  # noqa: E402
from data import log, prepare  # noqa: E402

PLANTED = {"changed": 34, "missing": 33, "extra": 33}


def copy_source_to_target() -> None:
    """The target as a copy of the source (untimed setup)."""
    with tempfile.TemporaryFile() as buf:
        with psycopg2.connect(dsn(SRC_DB)) as src, src.cursor() as cur:
            cur.copy_expert(f"COPY {SOURCE} TO STDOUT", buf)
        buf.seek(0)
        with psycopg2.connect(dsn(DST_DB)) as dst, dst.cursor() as cur:
            cur.execute("CREATE SCHEMA IF NOT EXISTS tpch")
            cur.execute(f"DROP TABLE IF EXISTS {TARGET}")
            cur.execute(table_ddl(TARGET))
            cur.copy_expert(f"COPY {TARGET} FROM STDIN", buf)
            cur.execute(f"ANALYZE {TARGET}")
    with psycopg2.connect(dsn(DST_DB)) as dst, dst.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {CONTROL} CASCADE")


def plant() -> dict[str, set[tuple[int, int]]]:
    """100 scattered differences in the target; returns the planted keys per kind."""
    with psycopg2.connect(dsn(DST_DB)) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {TARGET}")
        rows = cur.fetchone()[0]
        n = sum(PLANTED.values())
        step = max(rows // (n + 1), 1)
        # Every step-th row in key order: one row each, scattered over the whole key range.
        cur.execute(f"SELECT l_orderkey, l_linenumber FROM (SELECT l_orderkey, l_linenumber, row_number() OVER "
                    f"(ORDER BY {', '.join(KEYS)}) AS rn FROM {TARGET}) k WHERE mod(rn, %s) = 0 ORDER BY rn LIMIT %s",
                    (step, n))
        picked = [tuple(r) for r in cur.fetchall()]
        out: dict[str, set[tuple[int, int]]] = {k: set() for k in PLANTED}
        it = iter(picked)
        for _ in range(PLANTED["changed"]):
            k = next(it)
            cur.execute(f"UPDATE {TARGET} SET l_quantity = -l_quantity WHERE l_orderkey = %s AND l_linenumber = %s", k)
            out["changed"].add(k)
        for _ in range(PLANTED["missing"]):
            k = next(it)
            cur.execute(f"DELETE FROM {TARGET} WHERE l_orderkey = %s AND l_linenumber = %s", k)
            out["missing"].add(k)
        for _ in range(PLANTED["extra"]):
            k = next(it)
            others = ", ".join(_others())
            cur.execute(f"INSERT INTO {TARGET} (l_orderkey, l_linenumber, {others}) SELECT l_orderkey, 99, {others} "
                        f"FROM {TARGET} WHERE l_orderkey = %s AND l_linenumber = %s", k)
            out["extra"].add((k[0], 99))
    return out


def _others() -> list[str]:
    from common import NAMES

    return [c for c in NAMES if c not in KEYS]


def _reconcile(parallel: int, leaf_rows: int, q: Any) -> None:
    from gaussdb_batch.engine.choices import ReconcileScopeKind
    from gaussdb_batch.engine.context import BatchContext
    from gaussdb_batch.engine.reconciliation import ReconcileScope, reconcile
    from gaussdb_batch.engine.spec_parser import parse_spec
    from gaussdb_batch.hooks.gaussdb import GaussDBHook

    spec = parse_spec({
        "name": "bench_lineitem", "schedule": "0 0 * * *",
        "source": {"conn_id": "gbb_src", "table": SOURCE, "interval_column": "l_shipdate"},
        "target": {"conn_id": "gbb_dst", "table": TARGET}, "keys": KEYS, "control_schema": CONTROL,
    })
    ctx = BatchContext(spec, hook_factory=lambda cid: GaussDBHook(gaussdb_conn_id=cid))
    ctx.columns
    t0 = time.monotonic()
    res = reconcile(ctx, ReconcileScope(ReconcileScopeKind.TABLE), leaf_rows=leaf_rows, parallel=parallel,
                    keep=1000)
    seconds = time.monotonic() - t0
    found: dict[str, list] = {str(k): [] for k in res.differences}
    for r in res.records:
        found[str(r.kind)].append([int(r.key["l_orderkey"]), int(r.key["l_linenumber"])])
    ctx.close()
    q.put({"seconds": seconds, "source_rows": res.source_rows, "target_rows": res.target_rows,
           "ranges": res.ranges_compared, "bytes": res.bytes_fetched,
           "differences": {str(k): v for k, v in res.differences.items()}, "found": found,
           "peak_rss": peak_rss_bytes()})


def _full_scan(q: Any) -> None:
    t0 = time.monotonic()
    moved = 0
    for db, table in ((SRC_DB, SOURCE), (DST_DB, TARGET)):
        with psycopg2.connect(dsn(db)) as conn, conn.cursor(name="scan") as cur:
            cur.itersize = 10000
            cur.execute(f"SELECT * FROM {table}")
            for row in cur:
                moved += sum(len(str(v)) for v in row)
    q.put({"seconds": time.monotonic() - t0, "bytes": moved, "peak_rss": peak_rss_bytes()})


def _engine_load(scale: str) -> dict[str, Any] | None:
    """The engine's extract + load of the scale into an empty target, as ``make bench`` last measured it."""
    path = Path(__file__).resolve().parent / "results" / "results.json"
    try:
        data = json.loads(path.read_text())
        m = data["scales"][scale]["methods"]["engine_cross_db"]["empty"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {"seconds": m["seconds"], "extract_seconds": m["extract_seconds"], "load_seconds": m["load_seconds"],
            "code": data.get("code")}


def _code() -> str:
    import subprocess

    root = Path(__file__).resolve().parent.parent
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "plugins/gaussdb_batch/engine/reconciliation.py",
                            "plugins/gaussdb_batch/dialects/reconciliation.py", "bench/reconcile_cost.py"],
                           cwd=root, capture_output=True, text=True).stdout
    return rev.strip() + (" (with uncommitted changes to the reconciliation)" if dirty.strip() else "")


def _source_rows() -> int:
    with psycopg2.connect(dsn(SRC_DB)) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {SOURCE}")
        return int(cur.fetchone()[0])


def _child(fn: Any, *args: Any) -> dict[str, Any]:
    q: Any = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=fn, args=(*args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", nargs="+", type=float, default=[0.1, 1.0])
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--leaf-rows", type=int, default=2000)
    ap.add_argument("--reuse-source", action="store_true",
                    help="keep the source table a previous run of this scale loaded (only one scale then)")
    args = ap.parse_args()
    set_airflow_connections("postgres")
    results: dict[str, Any] = {}
    exact = True
    log(f"code {_code()}")
    for scale in args.scales:
        rows = _source_rows() if args.reuse_source else prepare(scale)
        copy_source_to_target()
        log(f"scale {scale:g}: {rows} rows; reconciling an equal target")
        equal = _child(_reconcile, args.parallel, args.leaf_rows)
        planted = plant()
        log(f"scale {scale:g}: reconciling after {sum(PLANTED.values())} planted differences")
        diff = _child(_reconcile, args.parallel, args.leaf_rows)
        scan = _child(_full_scan)
        want = {"changed": sorted(planted["changed"]), "missing_in_target": sorted(planted["missing"]),
                "extra_in_target": sorted(planted["extra"])}
        got = {k: sorted(tuple(x) for x in v) for k, v in diff["found"].items()}
        ok = all(got.get(k, []) == v for k, v in want.items()) and sum(equal["differences"].values()) == 0
        for k, v in want.items():
            if got.get(k, []) != v:
                log(f"{k}: planted but not reported {sorted(set(v) - set(got.get(k, [])))[:5]}, "
                    f"reported but not planted {sorted(set(got.get(k, [])) - set(v))[:5]}")
        exact = exact and ok
        diff.pop("found")
        equal.pop("found")
        results[f"{scale:g}"] = {"rows": rows, "equal": equal, "planted": diff, "full_scan": scan, "exact": ok,
                                 "engine_load": _engine_load(f"{scale:g}"), "code": _code()}
        print(json.dumps({f"{scale:g}": results[f"{scale:g}"]}, indent=1), flush=True)
    for scale, r in results.items():
        e, d, s = r["equal"], r["planted"], r["full_scan"]
        print(f"scale {scale}: {r['rows']} rows; exact={r['exact']}")
        print(f"  equal:   {e['seconds']:7.1f} s, {e['ranges']:5d} ranges, {e['bytes']:>12,} bytes, RSS {e['peak_rss'] >> 20} MiB")
        print(f"  planted: {d['seconds']:7.1f} s, {d['ranges']:5d} ranges, {d['bytes']:>12,} bytes, RSS {d['peak_rss'] >> 20} MiB,"
              f" {d['differences']}")
        print(f"  full scan of both sides: {s['seconds']:7.1f} s, {s['bytes']:>12,} bytes, RSS {s['peak_rss'] >> 20} MiB")
        print(f"  equal / full scan {e['seconds'] / s['seconds']:.2f}x, planted / full scan "
              f"{d['seconds'] / s['seconds']:.2f}x, planted / equal {d['seconds'] / e['seconds']:.2f}x")
        load = r["engine_load"]
        if load:
            print(f"  engine extract + load (make bench, code {load['code']}): {load['seconds']:.1f} s; equal / load "
                  f"{e['seconds'] / load['seconds']:.1f}x, planted / load {d['seconds'] / load['seconds']:.1f}x")
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
