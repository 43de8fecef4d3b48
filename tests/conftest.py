"""Shared test fixtures: the local PostgreSQL 15 stand-in and an isolated Airflow home."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration at import time: pin it before anything imports airflow.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".local" / "airflow-test"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
sys.path.insert(0, str(ROOT / "plugins"))


def _local_pg_env() -> dict[str, str]:
    subprocess.run([str(ROOT / "scripts" / "localdb.sh"), "start"], check=True)
    env: dict[str, str] = {}
    for line in (ROOT / ".local" / "pg" / "env").read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return env


@pytest.fixture(scope="session")
def pg_env() -> dict[str, str]:
    """Connection facts of the running local cluster (started on first use)."""
    return _local_pg_env()


def _dsn(env: dict[str, str], db: str, *, superuser: bool = False) -> str:
    user = "postgres" if superuser else env["GAUSSDB_BATCH_PG_USER"]
    pw = env["GAUSSDB_BATCH_PG_SUPERPASSWORD"] if superuser else env["GAUSSDB_BATCH_PG_PASSWORD"]
    return (
        f"host={env['GAUSSDB_BATCH_PG_HOST']} port={env['GAUSSDB_BATCH_PG_PORT']} "
        f"dbname={db} user={user} password={pw}"
    )


@pytest.fixture(scope="session")
def target_dsn(pg_env) -> str:
    return _dsn(pg_env, "gbtarget")


@pytest.fixture(scope="session")
def source_dsn(pg_env) -> str:
    return _dsn(pg_env, "gbsource")


@pytest.fixture(scope="session")
def super_dsn(pg_env) -> str:
    """Superuser on the target database (pg_terminate_backend of any session, etc.)."""
    return _dsn(pg_env, "gbtarget", superuser=True)


def conn_json(pg_env: dict[str, str], db: str, extra: dict | None = None) -> str:
    """An Airflow connection in the JSON form accepted by AIRFLOW_CONN_* variables."""
    import json

    return json.dumps(
        {
            "conn_type": "gaussdb",
            "host": pg_env["GAUSSDB_BATCH_PG_HOST"],
            "port": int(pg_env["GAUSSDB_BATCH_PG_PORT"]),
            "login": pg_env["GAUSSDB_BATCH_PG_USER"],
            "password": pg_env["GAUSSDB_BATCH_PG_PASSWORD"],
            "schema": db,
            "extra": extra or {},
        }
    )


@pytest.fixture(scope="session", autouse=False)
def airflow_conns(pg_env):
    """Expose gaussdb_default (target) and gaussdb_source (source) as env connections."""
    os.environ["AIRFLOW_CONN_GAUSSDB_DEFAULT"] = conn_json(pg_env, "gbtarget")
    os.environ["AIRFLOW_CONN_GAUSSDB_SOURCE"] = conn_json(pg_env, "gbsource")
    return {"gaussdb_default": "gbtarget", "gaussdb_source": "gbsource"}


@pytest.fixture
def scratch_schema(target_dsn):
    """A fresh schema in the target database, dropped after the test."""
    import psycopg2

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg2.connect(target_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{name}"')
    yield name
    conn = psycopg2.connect(target_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    conn.close()


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata DB (SQLite) under the test AIRFLOW_HOME, for dag.test()."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / ".migrated"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True,
                       stdout=subprocess.DEVNULL)
        marker.touch()
    return home


@pytest.fixture(autouse=True)
def _no_task_context_from_earlier_tests(monkeypatch):
    """dag.test() runs tasks in this process and leaves AIRFLOW_CTX_* behind; a worker never would."""
    for key in [k for k in os.environ if k.startswith("AIRFLOW_CTX_")]:
        monkeypatch.delenv(key)
