"""Load real demo data: TPC-H orders and lineitem (tpchgen-cli) into the source database.

Idempotent: a scale already loaded is kept. Creates the same (empty) tables in the target
database. Connection facts come from the environment written by scripts/localdb.sh.

TPC-H dates lie in 1992..1998. The demo moves them ``--shift-years`` later (28 by default:
a multiple of four, so every leap day stays a leap day; 1992..1998 becomes 2020..2026) so
that the demo's runs have recent data intervals and the Airflow UI reads sensibly.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
DDL = (ROOT / "include" / "sql" / "tpch_tables.sql").read_text()
TABLES = ("orders", "lineitem")
DATE_COLUMNS = {"orders": ("o_orderdate",), "lineitem": ("l_shipdate", "l_commitdate", "l_receiptdate")}
DEMO_SHIFT_YEARS = 28


def dsn(db: str) -> str:
    e = os.environ
    return (f"host={e['GAUSSDB_BATCH_PG_HOST']} port={e['GAUSSDB_BATCH_PG_PORT']} dbname={db} "
            f"user={e['GAUSSDB_BATCH_PG_USER']} password={e['GAUSSDB_BATCH_PG_PASSWORD']}")


def generate(scale: float) -> Path:
    out = ROOT / ".local" / "tpch" / f"sf{scale:g}"
    if all((out / f"{t}.csv").exists() for t in TABLES):
        return out
    out.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).with_name("tpchgen-cli")
    subprocess.run([str(exe), "csv", "-s", f"{scale:g}", "--tables", ",".join(TABLES),
                    "--output-dir", str(out), "--overwrite"], check=True)
    return out


def load(scale: float, *, target_db: str = "gbtarget", source_db: str = "gbsource",
         shift_years: int = 0) -> dict[str, int]:
    with psycopg2.connect(dsn(target_db)) as conn, conn.cursor() as cur:
        cur.execute(DDL)
    with psycopg2.connect(dsn(source_db)) as conn, conn.cursor() as cur:
        cur.execute(DDL)
        cur.execute("CREATE TABLE IF NOT EXISTS tpch.loaded (scale text PRIMARY KEY)")
        marker = f"{scale:g}" + (f"+{shift_years}y" if shift_years else "")
        cur.execute("SELECT 1 FROM tpch.loaded WHERE scale = %s", (marker,))
        if cur.fetchone() is None:
            folder = generate(scale)
            t0 = time.monotonic()
            cur.execute("TRUNCATE tpch.lineitem, tpch.orders")
            cur.execute("DELETE FROM tpch.loaded")
            for t in TABLES:
                with open(folder / f"{t}.csv", "rb") as f:
                    cur.copy_expert(f"COPY tpch.{t} FROM STDIN WITH (FORMAT csv, HEADER true)", f)
            if shift_years:
                for t, cols in DATE_COLUMNS.items():
                    sets = ", ".join(f"{c} = CAST({c} + %(shift)s * interval '1 year' AS date)" for c in cols)
                    cur.execute(f"UPDATE tpch.{t} SET {sets}", {"shift": shift_years})
            cur.execute("INSERT INTO tpch.loaded VALUES (%s)", (marker,))
            cur.execute("ANALYZE tpch.orders; ANALYZE tpch.lineitem")
            moved = f", dates moved {shift_years} years later" if shift_years else ""
            print(f"loaded TPC-H scale {scale:g} into {source_db}.tpch in {time.monotonic() - t0:.1f}s{moved}")
        counts = {}
        for t in TABLES:
            cur.execute(f"SELECT count(*) FROM tpch.{t}")
            counts[t] = cur.fetchone()[0]
    return counts


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scale", type=float, default=float(os.environ.get("TPCH_SCALE", "0.1")))
    p.add_argument("--shift-years", type=int, default=DEMO_SHIFT_YEARS,
                   help="move every date this many years later (default %(default)s: 1992..1998 -> 2020..2026)")
    args = p.parse_args()
    print(f"source rows: {load(args.scale, shift_years=args.shift_years)}")
