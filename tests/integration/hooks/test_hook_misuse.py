"""Programming errors are not mistaken for a lost session: they fail at once, unretried."""

from __future__ import annotations

import pytest

from gaussdb_batch.hooks.errors import TransientDBError
from gaussdb_batch.hooks.gaussdb import GaussDBHook


def test_using_a_closed_cursor_is_not_retried(pg_env, monkeypatch, driver):
    import json

    from tests.conftest import conn_json
    from tests.integration.hooks.conftest import login_for

    conn = json.loads(conn_json(pg_env, "gbtarget", {"driver": driver}))
    conn["login"] = login_for(pg_env, driver)
    monkeypatch.setenv("AIRFLOW_CONN_GB_MISUSE", json.dumps(conn))
    hook = GaussDBHook(gaussdb_conn_id="gb_misuse")
    calls = []

    def misuse(conn):
        calls.append(1)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        cur.execute("SELECT 2")  # the cursor is closed: a bug, not a network problem

    try:
        with pytest.raises(Exception) as err:
            hook.run_in_transaction(misuse, purpose="misuse")
        assert not isinstance(err.value, TransientDBError)
        assert len(calls) == 1
        hook.run_in_transaction(lambda conn: conn.cursor().execute("SELECT 1"), purpose="still usable")
    finally:
        hook.close()
