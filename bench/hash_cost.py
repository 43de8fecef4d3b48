"""What one fingerprint pass costs: the row hash against the two it replaced.

Three row hashes, each summed over every row: the current one (``Dialect.row_hash_expr``: typed
values, no structural collision), the typed hash before it (pg_catalog's hash functions as they are:
blind to a numeric's sign, 0 vs NULL and 64-bit folds) and the row-text hash before that.

Runs on the bench source table (``make bench`` or ``BENCH_SCALES=0.1 python bench/run.py``
fills it), one backend, no parallel workers, each expression summed over every row, best
of ``--repeat`` runs, after one warming scan. Figures, not pass/fail:

    . scripts/env.sh && python bench/hash_cost.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SOURCE, SRC_DB, dsn  # noqa: E402

from gaussdb_batch.dialects import Column, get_dialect  # noqa: E402
from gaussdb_batch.dialects.base import base_type  # noqa: E402


def _row_text_hash(cols: list[Column], alias: str) -> str:
    """The fingerprint before typed hashing: the row's composite text through hashtext."""
    parts = [f"CAST({alias}.{c.q} AS text)" if c.is_string else f"{alias}.{c.q}" for c in cols]
    return f"hashtext(CAST(ROW({', '.join(parts)}) AS text))"


def _folding_typed_hash(cols: list[Column], alias: str) -> str:
    """The fingerprint before blind spots were closed: pg_catalog's hash per type, NULL as -1."""
    fns = {"smallint": "hashint4", "integer": "hashint4", "bigint": "hashint8", "numeric": "hash_numeric",
           "real": "hashfloat8", "double precision": "hashfloat8", "character": "hashbpchar",
           "character varying": "hashtext", "text": "hashtext"}
    terms = []
    for c, w in zip(cols, range(3, 10**6, 2)):
        base = base_type(c.type_sql)
        v = f"{alias}.{c.q}"
        if base in ("date", "timestamp without time zone"):
            h = f"timestamp_hash(CAST({v} AS timestamp))"
        else:
            h = f"{fns.get(base, 'hashtext')}({v if base in fns else f'CAST({v} AS text)'})"
        terms.append(f"CAST(coalesce({h}, -1) AS bigint) * {w}")
    return f"hashint8({' + '.join(terms)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d = get_dialect("postgres").for_landing(True)
    schema, table = SOURCE.split(".")
    with psycopg2.connect(dsn(SRC_DB)) as conn, conn.cursor() as cur:
        cur.execute("SET max_parallel_workers_per_gather = 0")
        cur.execute(d.table_columns_sql(), {"schema": schema, "table": table})
        cols = [Column(n, t, bool(s)) for n, t, s in cur.fetchall()]
        if not cols:
            raise SystemExit(f"{SRC_DB}.{SOURCE} is missing: fill it with `BENCH_SCALES=0.1 python bench/run.py`")
        cur.execute(f"SELECT count(*) FROM {SOURCE}")
        rows = cur.fetchone()[0]
        exprs = {"count only (scan)": "count(*)",
                 "row text (hashtext of ROW::text)": f"sum({_row_text_hash(cols, 't')})",
                 "folding typed hash (before)": f"sum({_folding_typed_hash(cols, 't')})",
                 "typed values (row_hash_expr)": f"sum({d.row_hash_expr(cols, 't', from_landing=False)})"}
        best: dict[str, float] = {}
        for name, expr in exprs.items():
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                cur.execute(f"SELECT {expr} FROM {SOURCE} t")
                cur.fetchone()
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    base = best["row text (hashtext of ROW::text)"]
    print(f"{SRC_DB}.{SOURCE}: {rows} rows, {len(cols)} columns; best of {args.repeat}")
    for name, secs in best.items():
        print(f"  {name:36s} {secs:7.3f} s  {secs / base:5.2f}x row text")


if __name__ == "__main__":
    main()
