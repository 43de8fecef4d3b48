"""What every part of the bench shares: the local server, the bench databases, the lineitem shape."""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".local" / "bench"

SRC_DB, DST_DB = "gbbench_src", "gbbench_dst"
#: The target table (in DST_DB), the cross-database source (in SRC_DB) and the
#: same-database source (a second copy in DST_DB).
TARGET = "tpch.lineitem"
SOURCE = "tpch.lineitem"
SAME_DB_SOURCE = "benchsrc.lineitem"
CONTROL = "gbbench_ctl"

#: The whole of TPC-H's l_shipdate range: one data interval holds every row.
START = dt.datetime(1992, 1, 1, tzinfo=dt.timezone.utc)
END = dt.datetime(1999, 1, 1, tzinfo=dt.timezone.utc)

COLUMNS: list[tuple[str, str]] = [
    ("l_orderkey", "bigint"), ("l_partkey", "bigint"), ("l_suppkey", "bigint"),
    ("l_linenumber", "integer"), ("l_quantity", "numeric(15,2)"), ("l_extendedprice", "numeric(15,2)"),
    ("l_discount", "numeric(15,2)"), ("l_tax", "numeric(15,2)"), ("l_returnflag", "char(1)"),
    ("l_linestatus", "char(1)"), ("l_shipdate", "date"), ("l_commitdate", "date"),
    ("l_receiptdate", "date"), ("l_shipinstruct", "char(25)"), ("l_shipmode", "char(10)"),
    ("l_comment", "varchar(44)"),
]
NAMES = [c for c, _ in COLUMNS]
KEYS = ["l_orderkey", "l_linenumber"]
COLS_SQL = ", ".join(NAMES)
KEYS_SQL = ", ".join(KEYS)
INTERVAL_SQL = "l_shipdate >= DATE '1992-01-01' AND l_shipdate < DATE '1999-01-01'"


def table_ddl(table: str, *, primary_key: bool = True) -> str:
    cols = ", ".join(f"{c} {t} NOT NULL" for c, t in COLUMNS)
    pk = f", PRIMARY KEY ({KEYS_SQL})" if primary_key else ""
    return f"CREATE TABLE {table} ({cols}{pk})"


def upsert_tail() -> str:
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in NAMES if c not in KEYS)
    return f"ON CONFLICT ({KEYS_SQL}) DO UPDATE SET {sets}"


def pg_env() -> dict[str, str]:
    names = ("HOST", "PORT", "USER", "PASSWORD")
    env = {n: os.environ.get(f"GAUSSDB_BATCH_PG_{n}", "") for n in names}
    missing = [n for n, v in env.items() if not v]
    if missing:
        raise SystemExit(f"GAUSSDB_BATCH_PG_{missing[0]} is not set: run `. scripts/env.sh` after scripts/localdb.sh start")
    return env


def dsn(db: str) -> str:
    e = pg_env()
    return f"host={e['HOST']} port={e['PORT']} user={e['USER']} password={e['PASSWORD']} dbname={db}"


def set_airflow_connections(dialect: str) -> None:
    """gaussdb connections for the engine, postgres ones for GenericTransfer (inherited by children)."""
    e = pg_env()
    for conn_id, db in (("GBB_SRC", SRC_DB), ("GBB_DST", DST_DB)):
        base = {"host": e["HOST"], "port": int(e["PORT"]), "login": e["USER"], "password": e["PASSWORD"], "schema": db}
        os.environ[f"AIRFLOW_CONN_{conn_id}"] = json.dumps({"conn_type": "gaussdb", **base, "extra": {"dialect": dialect}})
        os.environ[f"AIRFLOW_CONN_PG_{conn_id[4:]}"] = json.dumps({"conn_type": "postgres", **base})


def peak_rss_bytes() -> int:
    """This process's peak resident set (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
