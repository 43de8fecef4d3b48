"""Connection extras: validation, libpq options, SET batch, application_name, backoff."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow.sdk.execution_time.context import set_current_context
from gaussdb_batch.hooks.retry import backoff_delay
from gaussdb_batch.hooks.session import RetryPolicy, SessionSettings, application_name, duration
from gaussdb_batch.identifiers import IdentifierError


@pytest.mark.parametrize(
    ("value", "expected"),
    [(60, "60s"), ("60s", "60s"), ("5 min", "5min"), ("250ms", "250ms"), ("2h", "2h"), ("0", "0"), (0, "0s")],
)
def test_durations_always_carry_a_unit(value, expected):
    assert duration(value, what="statement_timeout") == expected


@pytest.mark.parametrize("value", ["60", "1.5", "60 seconds", "-1s", True, "60s; DROP TABLE t"])
def test_durations_without_unit_are_refused(value):
    with pytest.raises(ValueError, match="statement_timeout"):
        duration(value, what="statement_timeout")


def test_defaults():
    s = SessionSettings.from_extra({})
    assert (s.driver, s.dialect, s.statement_timeout, s.idle_in_transaction_timeout) == (
        "psycopg2", None, "30min", "60s"
    )
    assert s.retry == RetryPolicy()
    assert s.options() == "-c statement_timeout=30min -c idle_in_transaction_session_timeout=60s"
    assert "lock_timeout" not in s.options() + s.set_statement()


def test_options_and_set_statement_with_search_path():
    s = SessionSettings.from_extra(
        {"statement_timeout": "10 min", "search_path": "stage, $user,public", "session_setup": "set"}
    )
    assert s.search_path == ("stage", "$user", "public")
    assert s.options() == (
        "-c statement_timeout=10min -c idle_in_transaction_session_timeout=60s "
        '-c search_path="stage","$user","public"'
    )
    assert s.set_statement() == (
        "SET statement_timeout = '10min'; SET idle_in_transaction_session_timeout = '60s'; "
        'SET search_path = "stage","$user","public"'
    )
    params = s.libpq_params(host="db", port=5432, dbname="d", user="u", password="")
    assert "options" not in params and "password" not in params
    assert params["keepalives"] == 1


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"driver": "pg8000"}, None),
        ({"dialect": "mysql"}, "dialect"),
        ({"session_setup": "pgbouncer"}, "session_setup"),
        ({"idle_in_transaction_timeout": "60"}, "unit"),
        ({"retry_sqlstates": "4000"}, "5-character"),
    ],
)
def test_bad_extras_fail_clearly(extra, match):
    if match is None:
        from gaussdb_batch.hooks.drivers import get_driver

        with pytest.raises(ValueError, match="driver='pg8000' is not supported"):
            get_driver(SessionSettings.from_extra(extra).driver)
        return
    with pytest.raises(ValueError, match=match):
        SessionSettings.from_extra(extra)


def test_search_path_must_be_plain_identifiers():
    with pytest.raises(IdentifierError):
        SessionSettings.from_extra({"search_path": ["public", 'x"; DROP SCHEMA public; --']})


def test_retry_extras():
    s = SessionSettings.from_extra({"retry_attempts": "3", "retry_max_elapsed": 30, "retry_sqlstates": ["40P01"]})
    assert (s.retry.attempts, s.retry.max_elapsed, s.retry.transient_sqlstates) == (3, 30.0, {"40P01"})


@pytest.mark.parametrize(
    ("map_index", "expected"),
    [(-1, "gaussdb_batch:orders.load"), (0, "gaussdb_batch:orders.load[0]"), (12, "gaussdb_batch:orders.load[12]")],
)
def test_application_name_in_a_task(map_index, expected):
    with set_current_context({"ti": SimpleNamespace(dag_id="orders", task_id="load", map_index=map_index)}):
        assert application_name() == expected


def test_application_name_outside_a_task(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CTX_DAG_ID", raising=False)
    assert application_name() == "gaussdb_batch"
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "d")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "t")
    assert application_name("etl") == "etl:d.t"


def test_application_name_fits_63_bytes():
    with set_current_context({"ti": SimpleNamespace(dag_id="д" * 40, task_id="t", map_index=3)}):
        name = application_name()
    assert len(name.encode()) <= 63 and name.startswith("gaussdb_batch:д")


def test_backoff_is_jittered_exponential_and_capped():
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = {backoff_delay(policy, attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1
