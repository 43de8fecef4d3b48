"""Retries of whole transactions, permanent errors, leftover sessions and log hygiene."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from gaussdb_batch.hooks.detect import ServerInfo
from gaussdb_batch.hooks.errors import DataError, PermanentDBError
from gaussdb_batch.identifiers import IdentifierError

SECRET_VALUE = "card-4111-1111-1111-1111"


@pytest.fixture
def table(scratch_schema, make_hook) -> str:
    name = f'"{scratch_schema}".items'
    make_hook().run(f"CREATE TABLE {name} (id int PRIMARY KEY, note text NOT NULL)")
    return name


def _count(hook, table: str) -> int:
    return hook.get_first(f"SELECT count(*) FROM {table}")[0]


def _terminate_when_sleeping(superuser, app_name: str) -> threading.Thread:
    """Kill the backend of ``app_name`` once it is inside pg_sleep (from another session)."""

    def kill() -> None:
        deadline = time.monotonic() + 10
        with superuser.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND query LIKE '%%pg_sleep%%' AND state = 'active'",
                    (app_name,),
                )
                if cur.fetchall():
                    return
                time.sleep(0.02)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def test_killed_session_is_retried_and_work_lands_once(make_hook, driver, table, superuser, app_name, sessions_named):
    hook = make_hook(driver=driver, application_name=app_name)
    attempts: list[int] = []

    def work(conn) -> str:
        attempts.append(1)
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} (id, note) VALUES (%s, %s)", (1, "loaded"))
            if len(attempts) == 1:
                killer = _terminate_when_sleeping(superuser, app_name)
                cur.execute("SELECT pg_sleep(10)")
                killer.join()
        return "done"

    started = time.monotonic()
    assert hook.run_in_transaction(work, purpose="load chunk 1") == "done"
    assert time.monotonic() - started < 8
    assert len(attempts) == 2
    assert _count(hook, table) == 1
    hook.close()
    assert sessions_named(app_name) == 0


@pytest.mark.parametrize(
    ("row", "sqlstate"),
    [((1, "dup"), "23505"), ((2, None), "23502")],
    ids=["unique_violation", "not_null_violation"],
)
def test_data_errors_are_not_retried(make_hook, driver, table, row, sqlstate, app_name, sessions_named):
    hook = make_hook(driver=driver, application_name=app_name)
    hook.run(f"INSERT INTO {table} VALUES (1, 'first')", autocommit=True)
    attempts: list[int] = []

    def work(conn) -> None:
        attempts.append(1)
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} (id, note) VALUES (%s, %s)", row)

    with pytest.raises(DataError) as caught:
        hook.run_in_transaction(work, purpose="load chunk 7", attempts=5)
    assert attempts == [1]
    err = caught.value
    assert (err.sqlstate, err.purpose, err.attempts) == (sqlstate, "load chunk 7", 1)
    assert f"load chunk 7 failed: SQLSTATE {sqlstate}" in str(err)
    assert "items" in str(err)
    # the session survived the failed transaction and is reused
    assert hook.run_in_transaction(lambda conn: _count_conn(conn, table), purpose="count") == 1
    hook.close()
    assert sessions_named(app_name) == 0


@pytest.mark.parametrize("family", ["postgres", "gaussdb"])
def test_errors_name_the_column_only_where_the_server_field_is_a_column(make_hook, driver, table, family):
    """openGauss sends an internal error code in field 'c' (PostgreSQL's column name): never print it."""
    hook = make_hook(driver=driver)
    if family == "gaussdb":  # what detection finds on openGauss (no optional settings to set here)
        hook._server_info = ServerInfo("gaussdb", "6.0.0", "PG")

    def work(conn) -> None:
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} (id, note) VALUES (%s, %s)", (5, None))

    with pytest.raises(DataError) as caught:
        hook.run_in_transaction(work, purpose="load chunk 7")
    text = str(caught.value)
    assert "SQLSTATE 23502 not_null_violation on " in text and "items" in text
    assert ("column note" in text) is (family == "postgres")
    with pytest.raises(DataError) as caught:
        hook.run(f"INSERT INTO {table} (id, note) VALUES (6, NULL)")
    assert ("column note" in str(caught.value)) is (family == "postgres")


def _count_conn(conn, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


def test_retries_stop_at_the_attempt_bound(make_hook, driver, superuser, app_name, sessions_named):
    from gaussdb_batch.hooks.errors import TransientDBError

    hook = make_hook(driver=driver, application_name=app_name)
    attempts: list[int] = []

    def always_killed(conn) -> None:
        attempts.append(1)
        killer = _terminate_when_sleeping(superuser, app_name)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_sleep(10)")
        killer.join()

    with pytest.raises(TransientDBError) as caught:
        hook.run_in_transaction(always_killed, purpose="flaky", attempts=3)
    assert len(attempts) == 3
    assert caught.value.attempts == 3 and "after 3 attempts" in str(caught.value)
    hook.close()
    assert sessions_named(app_name) == 0


def test_no_session_left_after_get_conn_run_and_failures(make_hook, driver, table, app_name, sessions_named):
    hook = make_hook(driver=driver, application_name=app_name)
    assert hook.get_records("SELECT 1") == [(1,)]
    with pytest.raises(PermanentDBError):
        hook.run(f"SELECT no_such_column FROM {table}")
    with pytest.raises(PermanentDBError):
        hook.run_in_transaction(lambda conn: conn.cursor().execute("SELEC 1"), purpose="typo")
    with pytest.raises(ZeroDivisionError):
        hook.run_in_transaction(lambda conn: 1 / 0, purpose="python error")
    hook.close()
    assert sessions_named(app_name) == 0


def test_failures_never_log_password_or_row_values(make_hook, driver, table, pg_env, caplog, capfd):
    hook = make_hook(driver=driver)
    hook.run(f"INSERT INTO {table} VALUES (1, %s)", parameters=(SECRET_VALUE,), autocommit=True)
    log = logging.getLogger("gaussdb_batch.test")
    failures = []
    with caplog.at_level(logging.DEBUG):
        for attempt in (
            lambda: hook.run(f"INSERT INTO {table} VALUES (%s, %s)", parameters=(1, SECRET_VALUE)),
            lambda: hook.insert_rows(table.replace('"', ""), [(1, SECRET_VALUE)], target_fields=["id", "note"]),
            lambda: hook.run_in_transaction(
                lambda conn: conn.cursor().execute(f"INSERT INTO {table} VALUES (%s, %s)", (1, SECRET_VALUE)),
                purpose="load chunk 3",
            ),
            lambda: hook.run(f"INSERT INTO {table} VALUES (%s::int, 'x')", parameters=(SECRET_VALUE,)),
        ):
            with pytest.raises(PermanentDBError) as caught:
                attempt()
            failures.append(caught.value)
            log.exception("load failed")
    out, err = capfd.readouterr()
    password = pg_env["GAUSSDB_BATCH_PG_PASSWORD"]
    for text in (caplog.text, out, err, *map(str, failures)):
        assert SECRET_VALUE not in text
        assert password not in text
    assert [f.sqlstate for f in failures] == ["23505", "23505", "23505", "22P02"]


@pytest.mark.parametrize(
    "bad",
    ['items; DROP TABLE items', 'items"--', "public.items.x", "1items", "it ems", ""],
)
def test_identifiers_from_outside_are_refused(make_hook, table, bad):
    hook = make_hook()
    with pytest.raises(IdentifierError, match="identifier|table reference|non-empty"):
        hook.insert_rows(bad, [(9, "x")])
    schema = table.split(".")[0].strip('"')
    with pytest.raises(IdentifierError):
        hook.insert_rows(f"{schema}.items", [(9, "x")], target_fields=["id", 'note") VALUES (1, 2); --'])
    assert _count(hook, table) == 0


def test_search_path_injection_is_refused(make_hook):
    hook = make_hook(search_path="public; DROP SCHEMA public")
    with pytest.raises(IdentifierError, match="search_path schema"):
        hook.get_conn()


def test_insert_rows_loads_in_chunks(make_hook, driver, table):
    hook = make_hook(driver=driver)
    schema = table.split(".")[0].strip('"')
    hook.insert_rows(f"{schema}.items", [(i, f"n{i}") for i in range(25)], target_fields=["id", "note"], commit_every=10)
    assert _count(hook, table) == 25


def test_bad_password_fails_fast_without_echoing_it(make_hook, driver, monkeypatch):
    hook = make_hook(driver=driver)
    monkeypatch.setattr(hook.connection, "password", "Wrong-Secret-Pw-987")
    started = time.monotonic()
    with pytest.raises(PermanentDBError) as caught:
        hook.run_in_transaction(lambda conn: None, purpose="connect")
    assert time.monotonic() - started < 3
    assert caught.value.attempts == 1
    assert "Wrong-Secret-Pw-987" not in str(caught.value)
