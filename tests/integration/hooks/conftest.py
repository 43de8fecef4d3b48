"""Hook fixtures: GaussDBHook instances over the local PostgreSQL, per driver."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import psycopg2
import pytest

from airflow.sdk import Connection
from gaussdb_batch.hooks.gaussdb import GaussDBHook

#: Every driver runs the same hook suite. async_gaussdb cannot answer PostgreSQL's SCRAM,
#: so it logs in as the md5 user scripts/localdb.sh creates (its sessions act as the app user).
DRIVERS = ["psycopg2", "psycopg", "async_gaussdb"]
MD5_ONLY_DRIVERS = {"async_gaussdb"}


def login_for(pg_env: dict[str, str], driver: str | None) -> str:
    """The PostgreSQL user a driver logs in as here."""
    return pg_env["GAUSSDB_BATCH_PG_MD5_USER"] if driver in MD5_ONLY_DRIVERS else pg_env["GAUSSDB_BATCH_PG_USER"]


@pytest.fixture(params=DRIVERS)
def driver(request) -> str:
    return request.param


@pytest.fixture
def app_name() -> str:
    """A unique application_name, so pg_stat_activity can be filtered to one test's sessions."""
    return f"gbtest_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_hook(pg_env) -> Callable[..., GaussDBHook]:
    """Build hooks on an in-memory Connection; every hook is closed after the test."""
    made: list[GaussDBHook] = []

    def make(db: str = "gbtarget", **extra) -> GaussDBHook:
        conn = Connection(
            conn_id=f"gaussdb_{db}",
            conn_type="gaussdb",
            host=pg_env["GAUSSDB_BATCH_PG_HOST"],
            port=int(pg_env["GAUSSDB_BATCH_PG_PORT"]),
            login=login_for(pg_env, extra.get("driver")),
            password=pg_env["GAUSSDB_BATCH_PG_PASSWORD"],
            schema=db,
            extra=json.dumps({"retry_initial_delay": 0.05, "retry_max_delay": 0.2, **extra}),
        )
        hook = GaussDBHook(connection=conn)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.close()


@pytest.fixture
def superuser(super_dsn):
    """An autocommit superuser connection (pg_terminate_backend, pg_stat_activity)."""
    conn = psycopg2.connect(super_dsn)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def sessions_named(superuser) -> Callable[[str], int]:
    """Count backends with an application_name, waiting briefly for closed ones to exit."""

    def count(app_name: str, *, settle: float = 3.0) -> int:
        deadline = time.monotonic() + settle
        while True:
            with superuser.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app_name,))
                found = cur.fetchone()[0]
            if found == 0 or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    return count


@pytest.fixture
def source_schema(source_dsn):
    """A fresh schema in the source database, dropped after the test."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(source_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    conn.close()
