"""driver: auto's reading of authentication requests, and the gaussdb connection form."""

from __future__ import annotations

import struct

import pytest

from gaussdb_batch.hooks import auth
from gaussdb_batch.hooks.agdb_login import ChallengeRefused
from gaussdb_batch.hooks.form import CONN_FIELDS, provider_ui_behaviour
from gaussdb_batch.hooks.gaussdb import GaussDBHook
from gaussdb_batch.hooks.session import SessionSettings


def _sha256_request(stored: int) -> bytes:
    return struct.pack("!i", stored) + b"a" * 64 + b"b" * 8 + struct.pack("!i", 10000)


@pytest.mark.parametrize(
    ("code", "payload", "method", "driver"),
    [
        (0, b"", "trust", "psycopg2"),
        (3, b"", "password", "psycopg2"),
        (5, b"salt", "md5", "psycopg2"),
        (10, b"SCRAM-SHA-256\x00\x00", "scram", "psycopg2"),  # PostgreSQL's SASL under the same code
        (10, _sha256_request(2), "sha256", "async_gaussdb"),  # openGauss's default
        (10, _sha256_request(1), "md5_in_sha256_request", "async_gaussdb"),
        (7, b"", "gss", "psycopg2"),
    ],
)
def test_request_codes_choose_the_driver(code, payload, method, driver):
    probe = auth._classify(code, payload)
    assert probe.method == method
    assert auth.driver_for(probe, where="The server at db:5432", user="etl") == driver


@pytest.mark.parametrize(("code", "payload"), [(13, b""), (10, _sha256_request(3)), (11, b"x" * 64)])
def test_sm3_and_md5_over_sha256_fail_with_the_dba_fix(code, payload):
    with pytest.raises(auth.UnsupportedAuthError) as caught:
        auth.driver_for(auth._classify(code, payload), where="The server at db:5432", user="etl")
    text = str(caught.value)
    assert "no Python driver supports" in text
    assert "password_encryption_type = 2" in text and "ALTER USER etl PASSWORD" in text


def test_connection_form_offers_every_extra_with_a_hint():
    widgets = GaussDBHook.get_connection_form_widgets()
    assert set(widgets) >= {
        "driver", "dialect", "statement_timeout", "idle_in_transaction_timeout", "session_timeout", "search_path",
        "application_name", "session_setup", "connect_timeout", "retry_attempts", "retry_max_elapsed",
        "retry_sqlstates", "sslmode", "skip_locked",
    }  # fmt: skip
    assert all(field["label"] and field["description"] for field in widgets.values())
    driver = widgets["driver"]["schema"]
    assert {"auto", "async_gaussdb", "psycopg2"} <= set(driver["enum"])
    assert "Empty: auto." in widgets["driver"]["description"]
    # The form saves only what the user set: no field has a default of its own (the hook's are
    # the defaults), and a form saved untouched (every extra null or empty) is the hook's defaults.
    assert not [name for name, f in widgets.items() if "default" in f["schema"]]
    # A choice left empty is null (the type allows it); null is not offered as a choice (shown as "null").
    assert not [name for name, f in widgets.items() if None in f["schema"].get("enum", [])]
    for untouched in (None, ""):
        settings = SessionSettings.from_extra({name: untouched for name in widgets})
        assert settings == SessionSettings.from_extra({}), untouched
    assert (settings.driver, settings.statement_timeout, settings.retry.attempts) == ("auto", "30min", 5)
    behaviour = GaussDBHook.get_ui_field_behaviour()
    assert behaviour["relabeling"]["schema"] == "Database"
    assert set(behaviour) == {"hidden_fields", "relabeling", "placeholders"}


def test_the_form_points_at_the_connection_docs():
    from pathlib import Path

    from gaussdb_batch.hooks.form import DOCS

    root = Path(__file__).resolve().parents[3]
    assert (root / DOCS.split()[0]).is_file()
    assert DOCS in GaussDBHook.get_connection_form_widgets()["driver"]["description"]
    assert DOCS in GaussDBHook.get_ui_field_behaviour()["placeholders"]["extra"]


def test_airflow_builds_the_form_from_the_same_fields():
    from airflow.providers_manager import ProvidersManager

    from gaussdb_batch import get_provider_info

    conn_type = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == "gaussdb")
    assert conn_type["conn-fields"] == CONN_FIELDS
    assert conn_type["ui-field-behaviour"] == provider_ui_behaviour()
    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    assert "default" not in widgets["extra__gaussdb__driver"].field["schema"]
    assert manager.field_behaviours["gaussdb"]["relabeling"]["schema"] == "Database"


@pytest.mark.parametrize(
    "error",
    [
        auth.UnsupportedAuthError("The server asks for an SM3 password exchange"),
        ChallengeRefused("the server asks for 1000 PBKDF2 iterations (auth_iteration_count)"),
    ],
    ids=["no_driver_for_the_exchange", "impossible_challenge"],
)
def test_a_login_the_client_refuses_fails_the_task_without_retries(error):
    """Airflow's retries cannot change the server's settings: the task fails at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from gaussdb_batch.operators.batch import fail_fast

    class Task:
        closed = False

        def _close(self) -> None:
            self.closed = True

    def execute(self, context):
        raise error

    task = Task()
    with pytest.raises(AirflowFailException, match="permanent error: not retried"):
        fail_fast(execute)(task, {})
    assert task.closed
