"""The gaussdb driver guard, and statement observers on real sessions."""

from __future__ import annotations

import io
from contextlib import closing

import pytest

from gaussdb_batch.hooks import libpq_guard, observe
from gaussdb_batch.hooks.drivers import get_driver


def test_gaussdb_driver_with_debian_libpq_is_refused_without_crashing(make_hook):
    """Here gaussdb 1.0.4 meets Debian's libpq, which segfaults: the worker must survive."""
    libpq_guard.reset_cache()
    with pytest.raises(libpq_guard.DriverUnavailableError) as caught:
        get_driver("gaussdb")
    text = str(caught.value)
    assert "SIGSEGV" in text
    assert "Huawei's GaussDB libpq" in text and "'psycopg2' with md5" in text
    with pytest.raises(libpq_guard.DriverUnavailableError):
        make_hook(driver="gaussdb").get_conn()


@pytest.mark.parametrize("dialect", ["postgres", "gaussdb"])
def test_observers_see_execute_executemany_and_copy(make_hook, driver, scratch_schema, dialect):
    seen: list[tuple[str, str]] = []

    def observer(sql: str, dialect_name: str) -> None:
        seen.append((sql, dialect_name))

    hook = make_hook(driver=driver, dialect=dialect)
    table = f'"{scratch_schema}".obs'
    assert hook.server_info.family == "postgres"  # probe statements happen before observing
    observe.add_statement_observer(observer)
    try:
        with closing(hook.get_conn()) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id int)")
            cur.executemany(f"INSERT INTO {table} VALUES (%s)", [(1,), (2,)])
            hook.driver.copy_in(cur, f"COPY {table} FROM STDIN", b"3\n4\n")
            sink = io.BytesIO()
            hook.driver.copy_out(cur, f"COPY {table} TO STDOUT", sink)
    finally:
        observe.remove_statement_observer(observer)
    assert sink.getvalue() == b"1\n2\n3\n4\n"
    assert seen == [
        ("SELECT set_config(%s, %s, false)", dialect),  # the session settings the server has
        (f"CREATE TABLE {table} (id int)", dialect),
        (f"INSERT INTO {table} VALUES (%s)", dialect),
        (f"COPY {table} FROM STDIN", dialect),
        (f"COPY {table} TO STDOUT", dialect),
    ]


def test_forbidden_sql_is_recorded_even_when_its_error_is_swallowed(make_hook, driver, forbidden_sql):
    hook = make_hook(driver=driver, dialect="gaussdb")
    with closing(hook.get_conn()) as conn, conn.cursor() as cur:
        try:
            cur.execute("SELECT current_setting('no.such_setting', true), to_regclass('nope')")
        except hook.driver.Error:
            pass
    assert [names for names, _ in forbidden_sql] == [["to_regclass", "two-argument current_setting"]]
    forbidden_sql.clear()  # provoked on purpose: do not fail this test


def test_analyze_is_recorded_inside_a_transaction_block_and_allowed_in_autocommit(make_hook, driver, scratch_schema,
                                                                                   forbidden_sql):
    """openGauss refuses ANALYZE of a non-temporary table inside a transaction block (25001)."""
    hook = make_hook(driver=driver, dialect="gaussdb")
    table = f'"{scratch_schema}".analyzed'
    hook.run_in_transaction(lambda conn: conn.cursor().execute(f"CREATE TABLE {table} (id int)"), purpose="create")
    hook.run_outside_transaction(f"ANALYZE {table}", purpose="analyze in autocommit")
    assert forbidden_sql == []
    hook.run_in_transaction(lambda conn: conn.cursor().execute(f"ANALYZE {table}"), purpose="analyze in a block")
    assert [names for names, _ in forbidden_sql] == [["ANALYZE / VACUUM inside a transaction block"]]
    forbidden_sql.clear()  # provoked on purpose: do not fail this test
    # the session is back to autocommit off: its next statement opens a transaction again
    with closing(hook.session().cursor()) as cur:
        cur.execute("SELECT 1")
    assert hook.session().autocommit is False
    hook.session().rollback()


def test_postgres_dialect_sessions_may_use_postgres_sql(make_hook, forbidden_sql):
    hook = make_hook(dialect="postgres")
    assert hook.get_first("SELECT to_regclass('pg_class') IS NOT NULL")[0] is True
    assert forbidden_sql == []
