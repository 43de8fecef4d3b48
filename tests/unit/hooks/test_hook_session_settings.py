"""Connection extras: validation, libpq options, SET batch, application_name, backoff."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow.sdk.execution_time.context import set_current_context
from gaussdb_batch.hooks.retry import backoff_delay
from gaussdb_batch.hooks.session import (
    OPTIONAL_SETTINGS,
    RetryPolicy,
    SessionSettings,
    application_name,
    duration,
)
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
        "auto", None, "30min", "60s"
    )
    assert s.retry == RetryPolicy()
    # The startup packet carries only what every server accepts: an unknown startup GUC is FATAL.
    assert s.options() == "-c statement_timeout=30min"
    everything = s.session_plan(family="gaussdb", available=frozenset(OPTIONAL_SETTINGS))
    assert "lock_timeout" not in s.options() + repr(everything)


ALL = frozenset(OPTIONAL_SETTINGS)


@pytest.mark.parametrize(
    ("family", "available", "expected"),
    [
        ("postgres", frozenset({"idle_in_transaction_session_timeout"}),
         [("idle_in_transaction_session_timeout", "60s")]),
        # openGauss 7 centralized: both settings exist; session_timeout keeps the session ours
        ("gaussdb", ALL, [("idle_in_transaction_session_timeout", "60s"), ("session_timeout", "0")]),
        # before 3.0.2, and distributed builds: no idle_in_transaction_session_timeout to set
        ("gaussdb", frozenset({"session_timeout"}), [("session_timeout", "0")]),
        # session_timeout is GaussDB's: never sent to another family, even if a setting of that name exists
        ("postgres", ALL, [("idle_in_transaction_session_timeout", "60s")]),
        ("gaussdb", frozenset(), []),
    ],
    ids=["postgres", "opengauss", "opengauss_before_3.0.2_or_distributed", "foreign_session_timeout", "bare"],
)
def test_settings_after_detection_skip_what_the_server_lacks(family, available, expected):
    assert SessionSettings.from_extra({}).optional_plan(family=family, available=available) == expected


def test_session_timeout_follows_the_task_timeout_or_the_extra():
    from datetime import timedelta

    s = SessionSettings.from_extra({})
    task = SimpleNamespace(execution_timeout=timedelta(hours=2))
    with set_current_context({"ti": SimpleNamespace(dag_id="d", task_id="t", map_index=-1, task=task)}):
        assert s.session_timeout_value() == "7260s"
    task.execution_timeout = timedelta(days=2)  # beyond GaussDB's 86400 s ceiling: off
    with set_current_context({"ti": SimpleNamespace(dag_id="d", task_id="t", map_index=-1, task=task)}):
        assert s.session_timeout_value() == "0"
    assert s.session_timeout_value() == "0"  # outside a task
    assert SessionSettings.from_extra({"session_timeout": "3h"}).session_timeout_value() == "3h"
    with pytest.raises(ValueError, match="session_timeout"):
        SessionSettings.from_extra({"session_timeout": "600"})


def test_set_mode_and_search_path_are_set_before_detection():
    s = SessionSettings.from_extra(
        {"statement_timeout": "10 min", "search_path": "stage, $user,public", "session_setup": "set"}
    )
    assert s.search_path == ("stage", "$user", "public")
    assert s.options() == ""
    assert s.universal_plan() == [("statement_timeout", "10min"), ("search_path", '"stage","$user","public"')]
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
