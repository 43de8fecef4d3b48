"""Session settings, server detection and Airflow integration of GaussDBHook."""

from __future__ import annotations

import logging
import socket
from types import SimpleNamespace

import pytest

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import Connection
from airflow.sdk.execution_time.context import set_current_context
from gaussdb_batch.hooks.detect import UnsupportedDialectError
from gaussdb_batch.hooks.gaussdb import GaussDBHook


def _show(hook: GaussDBHook, *names: str) -> dict[str, str]:
    conn = hook.get_conn()
    try:
        with conn.cursor() as cur:
            out = {}
            for name in names:
                cur.execute(f"SHOW {name}")
                out[name] = cur.fetchone()[0]
        return out
    finally:
        conn.close()


def _scalar(conn, sql: str):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


@pytest.mark.parametrize("setup", ["options", "set"])
def test_every_session_carries_timeouts_name_and_search_path(make_hook, driver, scratch_schema, setup):
    hook = make_hook(
        driver=driver,
        session_setup=setup,
        statement_timeout="90s",
        idle_in_transaction_timeout=45,
        search_path=[scratch_schema, "public"],
    )
    shown = _show(hook, "statement_timeout", "idle_in_transaction_session_timeout", "application_name")
    assert shown == {
        "statement_timeout": "90s",
        "idle_in_transaction_session_timeout": "45s",
        "application_name": "gaussdb_batch",
    }
    schemas = hook.run_in_transaction(lambda conn: _scalar(conn, "SELECT current_schemas(false)"), purpose="path")
    assert schemas == [scratch_schema, "public"]


def test_defaults_and_tcp_settings(make_hook, driver):
    hook = make_hook(driver=driver)
    shown = _show(hook, "statement_timeout", "idle_in_transaction_session_timeout")
    assert shown == {"statement_timeout": "30min", "idle_in_transaction_session_timeout": "1min"}
    assert hook.connect_params()["connect_timeout"] == 10
    conn = hook.get_conn()
    sock = socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    finally:
        sock.close()
        conn.close()


def test_application_name_names_the_mapped_task(make_hook, driver):
    hook = make_hook(driver=driver)
    ti = SimpleNamespace(dag_id="orders_daily", task_id="load", map_index=2)
    with set_current_context({"ti": ti}):
        assert _show(hook, "application_name") == {"application_name": "gaussdb_batch:orders_daily.load[2]"}


def test_detects_postgres_and_leaves_the_session_clean(make_hook, driver):
    hook = make_hook(driver=driver)
    assert hook.server_info.family == "postgres"
    assert hook.server_info.version.startswith("PostgreSQL 15")
    assert hook.server_info.compatibility is None
    assert hook.dialect_name == "postgres"

    def after_probe(conn):
        with conn.cursor() as cur:
            cur.execute("SELECT 41 + 1")
            return cur.fetchone()[0]

    assert hook.run_in_transaction(after_probe, purpose="first statement after the probe") == 42


def test_dialect_extra_overrides_detection(make_hook):
    from gaussdb_batch.dialects import GaussDBDialect

    hook = make_hook(dialect="gaussdb")
    assert hook.dialect_name == "gaussdb"
    assert isinstance(hook.dialect, GaussDBDialect) and hook.dialect is hook.dialect  # the project's, one per hook
    assert hook.server_info.family == "postgres"
    conn = hook.get_conn()
    assert conn.gb_dialect == "gaussdb"
    conn.close()


def test_detects_gaussdb_by_its_probe_function(make_hook, scratch_schema, target_dsn):
    import psycopg2

    with psycopg2.connect(target_dsn) as conn, conn.cursor() as cur:
        cur.execute(
            f'CREATE FUNCTION "{scratch_schema}".opengauss_version() RETURNS text '
            "LANGUAGE sql AS $$ SELECT '7.0.0-RC2' $$"
        )
    conn.close()
    hook = make_hook(search_path=[scratch_schema])
    assert (hook.server_info.family, hook.server_info.version) == ("gaussdb", "7.0.0-RC2")
    assert hook.dialect_name == "gaussdb"


def _looks_like_opengauss(target_dsn, schema: str, *, data_nodes: int = 0) -> None:
    """What detection reads on openGauss, placed in ``schema`` (the hook's search_path) of PostgreSQL."""
    import psycopg2

    with psycopg2.connect(target_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE FUNCTION "{schema}".opengauss_version() RETURNS text LANGUAGE sql AS $$ SELECT \'6.0.0\' $$')
        cur.execute(f'CREATE TABLE "{schema}".pgxc_node (node_type "char")')
        cur.execute(f'INSERT INTO "{schema}".pgxc_node SELECT \'D\' FROM generate_series(1, %s)', (data_nodes,))
    conn.close()


def test_the_skip_locked_clause_is_probed_at_detection(make_hook, scratch_schema, target_dsn):
    assert make_hook().server_info.skip_locked is True  # PostgreSQL parses it
    _looks_like_opengauss(target_dsn, scratch_schema)
    hook = make_hook(search_path=[scratch_schema])
    assert hook.server_info.family == "gaussdb" and hook.server_info.skip_locked is True
    assert hook.dialect.caps.skip_locked is True


def test_the_postgres_dialect_is_refused_on_a_gaussdb_server(make_hook, scratch_schema, target_dsn):
    _looks_like_opengauss(target_dsn, scratch_schema)
    hook = make_hook(search_path=[scratch_schema], dialect="postgres")
    with pytest.raises(UnsupportedDialectError, match=r"dialect='postgres' is set, but the server is opengauss"):
        hook.get_conn()
    with pytest.raises(UnsupportedDialectError):
        _ = hook.dialect


def test_a_distributed_target_is_keyed_as_its_catalog_says(make_hook, scratch_schema, target_dsn, caplog):
    import psycopg2

    from gaussdb_batch.engine.context import BatchContext
    from gaussdb_batch.engine.spec_parser import parse_spec

    _looks_like_opengauss(target_dsn, scratch_schema, data_nodes=2)
    with psycopg2.connect(target_dsn) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE TABLE "{scratch_schema}".items (k bigint PRIMARY KEY, region int, note text)')
        cur.execute(f'CREATE TABLE "{scratch_schema}".pgxc_class (pcrelid oid, pclocatortype "char", pcattnum int2vector)')
        cur.execute(f'INSERT INTO "{scratch_schema}".pgxc_class SELECT CAST(%s AS regclass), \'H\', '
                    "CAST('2 1' AS int2vector)", (f'"{scratch_schema}".items',))
    conn.close()
    hook = make_hook(search_path=[scratch_schema])
    assert hook.server_info.distributed and hook.dialect.caps.distributed
    spec = parse_spec({
        "name": "items", "schedule": "0 0 * * *", "keys": ["k"],
        "source": {"conn_id": "gb_target", "table": f"{scratch_schema}.items", "interval_column": "region"},
        "target": {"conn_id": "gb_target", "table": f"{scratch_schema}.items", "distribute_by": ["k"]},
    })
    ctx = BatchContext(spec, hook_factory=lambda conn_id: hook)
    with caplog.at_level(logging.WARNING):
        assert ctx.dialect.distribute_by == ["region", "k"]
    assert "distributed by ['region', 'k'] in the catalog" in caplog.text


def test_compatibility_a_logs_a_warning(caplog):
    from gaussdb_batch.hooks.detect import probe_server

    class Cursor:
        """Answers like an openGauss in A mode; a server in A mode cannot run here."""

        def __init__(self):
            self.last = None

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql):
            self.last = sql

        def fetchone(self):
            return {"SELECT version()": ("(openGauss 7.0.0 build x)",),
                    "SELECT opengauss_version()": ("7.0.0",),
                    "SHOW sql_compatibility": ("A",)}.get(self.last, (None,))  # fmt: skip

    conn = SimpleNamespace(cursor=Cursor, rollback=lambda: None)
    with caplog.at_level(logging.WARNING):
        info = probe_server(conn, Exception)
    assert (info.family, info.compatibility, info.empty_string_is_null) == ("gaussdb", "A", True)
    assert "sql_compatibility A" in caplog.text


def test_connection_get_hook_and_sql_operator(airflow_conns, sessions_named, app_name, monkeypatch):
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_GAUSSDB_DEFAULT"])
    conn["extra"] = {"application_name": app_name}
    monkeypatch.setenv("AIRFLOW_CONN_GAUSSDB_DEFAULT", json.dumps(conn))
    assert isinstance(Connection.get("gaussdb_default").get_hook(), GaussDBHook)

    op = SQLExecuteQueryOperator(
        task_id="probe", conn_id="gaussdb_default", sql="SELECT current_database(), %(n)s::int + 1",
        parameters={"n": 41},
    )  # fmt: skip
    assert op.execute(context={}) == [("gbtarget", 42)]
    assert sessions_named(app_name) == 0
