"""Load real demo data: TPC-H orders and lineitem (tpchgen-cli) into the source database.

Idempotent: a scale already loaded is kept. Creates the same (empty) tables in the target
database. Connection facts come from the environment written by scripts/localdb.sh.
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


def load(scale: float, *, target_db: str = "gbtarget", source_db: str = "gbsource") -> dict[str, int]:
    with psycopg2.connect(dsn(target_db)) as conn, conn.cursor() as cur:
        cur.execute(DDL)
    with psycopg2.connect(dsn(source_db)) as conn, conn.cursor() as cur:
        cur.execute(DDL)
        cur.execute("CREATE TABLE IF NOT EXISTS tpch.loaded (scale text PRIMARY KEY)")
        cur.execute("SELECT 1 FROM tpch.loaded WHERE scale = %s", (f"{scale:g}",))
        if cur.fetchone() is None:
            folder = generate(scale)
            t0 = time.monotonic()
            cur.execute("TRUNCATE tpch.lineitem, tpch.orders")
            cur.execute("DELETE FROM tpch.loaded")
            for t in TABLES:
                with open(folder / f"{t}.csv", "rb") as f:
                    cur.copy_expert(f"COPY tpch.{t} FROM STDIN WITH (FORMAT csv, HEADER true)", f)
            cur.execute("INSERT INTO tpch.loaded VALUES (%s)", (f"{scale:g}",))
            cur.execute("ANALYZE tpch.orders; ANALYZE tpch.lineitem")
            print(f"loaded TPC-H scale {scale:g} into {source_db}.tpch in {time.monotonic() - t0:.1f}s")
        counts = {}
        for t in TABLES:
            cur.execute(f"SELECT count(*) FROM tpch.{t}")
            counts[t] = cur.fetchone()[0]
    return counts


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scale", type=float, default=float(os.environ.get("TPCH_SCALE", "0.1")))
    args = p.parse_args()
    print(f"source rows: {load(args.scale)}")
