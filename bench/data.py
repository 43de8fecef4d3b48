"""TPC-H lineitem from tpchgen-cli into the bench databases (setup, never timed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psycopg2

from common import DST_DB, SAME_DB_SOURCE, SOURCE, SRC_DB, TARGET, WORK, COLS_SQL, dsn, pg_env, table_ddl


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def tpchgen() -> str:
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    if not Path(exe).exists():
        raise SystemExit("tpchgen-cli not found: it is in requirements.txt (make venv)")
    return exe


def generate(scale: float) -> Path:
    """lineitem.csv (with header) at ``scale``, cached under .local/bench."""
    out = WORK / f"tpch-sf{scale:g}"
    path = out / "lineitem.csv"
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        log(f"generating TPC-H lineitem at scale {scale:g} with tpchgen-cli")
        subprocess.run([tpchgen(), "csv", "-s", f"{scale:g}", "--tables=lineitem", f"--output-dir={out}"], check=True)
    return path


def ensure_databases() -> None:
    conn = psycopg2.connect(dsn("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        for db in (SRC_DB, DST_DB):
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
            if cur.fetchone() is None:
                log(f"creating database {db}")
                cur.execute(f'CREATE DATABASE "{db}"')
    conn.close()


def _load_table(db: str, table: str, csv_path: Path) -> None:
    schema = table.split(".")[0]
    conn = psycopg2.connect(dsn(db))
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(table_ddl(table))
        with csv_path.open("rb") as f:
            cur.copy_expert(f"COPY {table} ({COLS_SQL}) FROM STDIN WITH (FORMAT csv, HEADER true)", f)
        cur.execute(f"CREATE INDEX ON {table} (l_shipdate)")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"VACUUM ANALYZE {table}")
    conn.close()


def prepare(scale: float) -> int:
    """Fill the sources for ``scale``, create the empty target; return the row count."""
    csv_path = generate(scale)
    ensure_databases()
    log(f"loading scale {scale:g} into {SRC_DB}.{SOURCE} and {DST_DB}.{SAME_DB_SOURCE}")
    _load_table(SRC_DB, SOURCE, csv_path)
    _load_table(DST_DB, SAME_DB_SOURCE, csv_path)
    conn = psycopg2.connect(dsn(DST_DB))
    with conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS tpch")
        cur.execute(f"DROP TABLE IF EXISTS {TARGET}")
        cur.execute(table_ddl(TARGET))
        cur.execute(f"SELECT count(*) FROM {SAME_DB_SOURCE}")
        rows = cur.fetchone()[0]
    conn.close()
    return rows


def server_facts() -> dict[str, str]:
    """The settings of the local cluster that matter for write speed."""
    names = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem", "fsync",
             "synchronous_commit", "full_page_writes", "wal_level", "max_wal_size", "checkpoint_timeout",
             "effective_io_concurrency", "max_parallel_workers_per_gather", "jit")
    conn = psycopg2.connect(dsn(DST_DB))
    with conn.cursor() as cur:
        cur.execute("SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name = ANY(%s)", (list(names),))
        facts = {n: (f"{s} ({u})" if u else s) for n, s, u in cur.fetchall()}
        cur.execute("SHOW shared_buffers")
        facts["shared_buffers"] = cur.fetchone()[0]
        cur.execute("SHOW work_mem")
        facts["work_mem"] = cur.fetchone()[0]
        cur.execute("SHOW maintenance_work_mem")
        facts["maintenance_work_mem"] = cur.fetchone()[0]
        cur.execute("SHOW max_wal_size")
        facts["max_wal_size"] = cur.fetchone()[0]
    conn.close()
    facts["host"] = pg_env()["HOST"]
    return facts
