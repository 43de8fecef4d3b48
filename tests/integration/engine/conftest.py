"""Engine fixtures: a source and a target table in scratch schemas, and batch contexts over them."""

from __future__ import annotations

import json
import uuid

import psycopg2
import pytest

from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.spec_parser import parse_spec
from gaussdb_batch.hooks.gaussdb import GaussDBHook
from tests.integration.opengauss_semantics import SEARCH_PATH as OPENGAUSS_SEARCH_PATH
from tests.integration.opengauss_semantics import install as install_opengauss_semantics

ORDERS_DDL = """
CREATE TABLE {t} (
    o_orderkey bigint PRIMARY KEY,
    o_custkey bigint NOT NULL,
    o_status char(1),
    o_totalprice numeric(15,2),
    o_orderdate date NOT NULL,
    o_comment varchar(79)
)
"""


def make_orders(cur, table: str, n: int, *, start_key: int = 1, day0: str = "2024-01-01", days: int = 3) -> None:
    """n synthetic orders spread evenly over `days` days from day0 (deterministic)."""
    cur.execute(
        f"""INSERT INTO {table}
        SELECT k, k %% 1000, CASE WHEN k %% 3 = 0 THEN 'F' WHEN k %% 3 = 1 THEN 'O' ELSE NULL END,
               (k * 7.31)::numeric(15,2), DATE %s + ((k - %s) %% %s)::int,
               CASE WHEN k %% 5 = 0 THEN '' WHEN k %% 7 = 0 THEN NULL ELSE 'order ' || k END
        FROM generate_series(%s, %s) k""",
        (day0, start_key, days, start_key, start_key + n - 1),
    )


@pytest.fixture(params=["gaussdb", "postgres"])
def dialect_name(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def opengauss_semantics(target_dsn, source_dsn) -> list[str]:
    """openGauss's operators installed in both test databases; returns the search_path that selects them."""
    for dsn in (target_dsn, source_dsn):
        install_opengauss_semantics(dsn)
    return OPENGAUSS_SEARCH_PATH


@pytest.fixture
def conn_extra() -> dict:
    """Extra connection extras for a test (parametrize it to change the hook's behaviour)."""
    return {}


# -- drivers (hook layer) -----------------------------------------------------------------
#: Tests whose paths depend on the driver (COPY, transactions, errors and savepoints, a
#: killed lane, extract -> load -> check -> compensate) also run under async_gaussdb; the
#: rest run under the default driver (auto: psycopg2 against this md5 cluster) only, to
#: keep `make test` short.
DRIVER_DEPENDENT = {
    "test_run_lands_loads_checks_and_finalizes",
    "test_compensation_restores_the_pre_run_target",
    "test_tampered_chunk_fails_the_first_pass_is_reloaded_and_then_matches",
    "test_eight_kinds_of_bad_rows_are_quarantined_and_good_rows_load",
    "test_lane_killed_mid_chunk_then_resumed_loses_and_duplicates_nothing",
}


def pytest_generate_tests(metafunc):
    if "engine_driver" in metafunc.fixturenames:
        drivers = ["auto", "async_gaussdb"] if metafunc.function.__name__ in DRIVER_DEPENDENT else ["auto"]
        if len(drivers) > 1:
            metafunc.parametrize("engine_driver", drivers, ids=lambda d: f"driver_{d}")


@pytest.fixture
def engine_driver() -> str:
    """The default driver; DRIVER_DEPENDENT tests are parametrized over both (pytest_generate_tests)."""
    return "auto"


@pytest.fixture
def conns(pg_env, dialect_name, monkeypatch, opengauss_semantics, conn_extra, engine_driver):
    """Connections gb_target / gb_source; gaussdb-dialect sessions run under openGauss semantics."""
    extra: dict = {"dialect": dialect_name, "driver": engine_driver, **conn_extra}
    # async_gaussdb cannot answer SCRAM: it logs in as the md5 user scripts/localdb.sh creates.
    login = pg_env["GAUSSDB_BATCH_PG_MD5_USER" if engine_driver == "async_gaussdb" else "GAUSSDB_BATCH_PG_USER"]
    if dialect_name == "gaussdb":
        extra["search_path"] = opengauss_semantics

    def conn(db: str) -> str:
        return json.dumps({
            "conn_type": "gaussdb", "host": pg_env["GAUSSDB_BATCH_PG_HOST"],
            "port": int(pg_env["GAUSSDB_BATCH_PG_PORT"]), "login": login,
            "password": pg_env["GAUSSDB_BATCH_PG_PASSWORD"], "schema": db,
            "extra": extra,
        })

    monkeypatch.setenv("AIRFLOW_CONN_GB_TARGET", conn("gbtarget"))
    monkeypatch.setenv("AIRFLOW_CONN_GB_SOURCE", conn("gbsource"))
    return {"target": "gb_target", "source": "gb_source"}


@pytest.fixture
def schemas(target_dsn, source_dsn):
    """A fresh schema of the same name in source and target databases (and its control schema)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    control = f"c_{name}"
    for dsn in (target_dsn, source_dsn):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{name}"')
    yield {"data": name, "control": control}
    for dsn in (target_dsn, source_dsn):
        c = psycopg2.connect(dsn)
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            cur.execute(f'DROP SCHEMA IF EXISTS "{control}" CASCADE')
        c.close()


@pytest.fixture
def orders(schemas, target_dsn, source_dsn):
    """Empty orders tables in source and target."""
    t = f'"{schemas["data"]}".orders'
    for dsn in (target_dsn, source_dsn):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute(ORDERS_DDL.format(t=t))
    return t


@pytest.fixture
def spec_data(conns, schemas):
    """A spec mapping for the orders tables of this test, with overrides merged in."""

    def build(**overrides) -> dict:
        data = {
            "name": "orders_sync",
            "schedule": "0 0 * * *",
            "source": {"conn_id": conns["source"], "table": f"{schemas['data']}.orders",
                       "interval_column": "o_orderdate"},
            "target": {"conn_id": conns["target"], "table": f"{schemas['data']}.orders"},
            "keys": ["o_orderkey"],
            "chunk_rows": 100,
            "lanes": 2,
            "control_schema": schemas["control"],
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data

    return build


@pytest.fixture
def make_ctx(spec_data):
    made: list[BatchContext] = []

    def make(**overrides) -> BatchContext:
        ctx = BatchContext(parse_spec(spec_data(**overrides)), hook_factory=lambda cid: GaussDBHook(gaussdb_conn_id=cid))
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def fingerprint(dsn: str, table: str) -> tuple[int, str]:
    """Row count and an order-independent digest of a whole table (test-side oracle)."""
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') FROM {table} t")
        n, h = cur.fetchone()
        return n, h


def interval_fingerprint(dsn: str, table: str, start, end) -> tuple[int, str]:
    """The oracle fingerprint of the source rows of one interval."""
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(
            f"SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') "
            f"FROM {table} t WHERE o_orderdate >= %s AND o_orderdate < %s",
            (start, end),
        )
        n, h = cur.fetchone()
        return n, h


def slow_down(dsn: str, table: str, ms_per_row: float) -> None:
    """A row trigger that sleeps, so chunk transactions stay open long enough to kill or race."""
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(
            "CREATE OR REPLACE FUNCTION pg_temp_slow_row() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep({ms_per_row / 1000.0}); RETURN NEW; END $$"
        )
        cur.execute(f"CREATE TRIGGER slow_rows BEFORE INSERT OR UPDATE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION pg_temp_slow_row()")


def control_rows(dsn: str, control: str, sql: str, params=()) -> list[tuple]:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(sql.replace("{c}", f'"{control}"'), params)
        return cur.fetchall()
