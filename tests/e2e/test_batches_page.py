"""The Batches page in real Airflow: the plugin's endpoints behind Airflow's authentication, and
the page in headless Chromium showing a run in progress (a live progress bar), then finished.

The batch under test (``e2e_ui``, manual) loads one quarter of TPC-H orders into
``e2e.orders_ui``, whose CHECK constraint refuses every 97th order key (rejects with SQLSTATE
23514, under ``max_rejects``) and whose trigger makes rows above a key threshold wait for an
advisory lock this test holds: the chunks below the threshold finish, the lanes stop inside the
next ones, and the run stays LOADING with part of its chunks done until the test lets go.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator

import psycopg2
import pytest
import requests
from selenium.webdriver.common.by import By

from gaussdb_batch.engine.state import ChunkStatus, RunStatus
from tests.e2e.conftest import ADMIN_PASSWORD, E2E_HOME, Stack, query, wait_until
from tests.e2e.manual_batch import add_batch, manual_spec
from tests.e2e.test_web_ui import browser  # noqa: F401 (the headless Chromium fixture)

pytestmark = pytest.mark.e2e

BATCH = "e2e_ui"
GATE_LOCK = 77017
START, END = dt.date(1992, 1, 1), dt.date(1992, 4, 1)
SCREENSHOTS = E2E_HOME / "screenshots"
SPEC = manual_spec(BATCH, description="TPC-H orders of one quarter, gated by a lock the Batches page test holds",
                   target="e2e.orders_ui", tag="ui", chunk_rows=20, max_rejects=1000)
TARGET_SQL = f"""
CREATE SCHEMA IF NOT EXISTS e2e;
DROP TABLE IF EXISTS e2e.orders_ui;
CREATE TABLE e2e.orders_ui (LIKE tpch.orders INCLUDING DEFAULTS);
ALTER TABLE e2e.orders_ui ADD PRIMARY KEY (o_orderkey);
ALTER TABLE e2e.orders_ui ADD CONSTRAINT not_every_97th CHECK (o_orderkey %% 97 <> 0);
CREATE TABLE IF NOT EXISTS e2e.ui_gate (threshold bigint NOT NULL);
TRUNCATE e2e.ui_gate;
INSERT INTO e2e.ui_gate VALUES (%(threshold)s);
CREATE OR REPLACE FUNCTION e2e.ui_gate_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.o_orderkey > (SELECT threshold FROM e2e.ui_gate) THEN
    PERFORM pg_advisory_xact_lock_shared({GATE_LOCK});
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ui_gate BEFORE INSERT ON e2e.orders_ui FOR EACH ROW EXECUTE FUNCTION e2e.ui_gate_row();
"""


@pytest.fixture
def ui_stack(local_stack: Stack) -> Iterator[Stack]:
    st = local_stack
    keys = [k for (k,) in query(st.source_dsn, "SELECT o_orderkey FROM tpch.orders WHERE o_orderdate >= %s AND "
                                               "o_orderdate < %s ORDER BY o_orderkey", (START, END))]
    with psycopg2.connect(st.target_dsn) as conn, conn.cursor() as cur:
        cur.execute(TARGET_SQL, {"threshold": keys[len(keys) // 2]})
    conn.close()
    add_batch(st, BATCH, SPEC)
    st.api.patch(f"/dags/{BATCH}", {"is_paused": False})
    try:
        yield st
    finally:
        st.api.patch(f"/dags/{BATCH}", {"is_paused": True})


def _token_for(st: Stack, username: str, role: str) -> str:
    """A JWT the stack's api-server accepts, for a simple-auth-manager user of ``role``."""
    code = ("from airflow.api_fastapi.app import get_auth_manager_cls;"
            "from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser;"
            f"print(get_auth_manager_cls()().generate_jwt(SimpleAuthManagerUser(username={username!r}, role={role!r})))")
    res = subprocess.run([sys.executable, "-c", code], env=st.env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip().splitlines()[-1]


def _get(st: Stack, path: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{st.base_url}/gaussdb-batch/api/{path}", headers=headers, timeout=60)


def _control_run(st: Stack) -> tuple | None:
    if not query(st.target_dsn, "SELECT to_regclass('gaussdb_batch.runs')")[0][0]:
        return None  # no batch ran yet in this session
    rows = query(st.target_dsn, "SELECT r.run_id, r.status, count(c.chunk_no),"
                                "       sum(CASE WHEN c.status = %s THEN 1 ELSE 0 END)"
                                "  FROM gaussdb_batch.runs r LEFT JOIN gaussdb_batch.chunks c ON c.run_id = r.run_id"
                                " WHERE r.batch = %s GROUP BY r.run_id, r.status ORDER BY r.run_id DESC LIMIT 1",
                 (ChunkStatus.DONE.value, BATCH))
    return rows[0] if rows else None


def _sign_in(driver, st: Stack) -> None:
    driver.get(f"{st.base_url}/auth/login")
    wait_until("the login form", lambda: driver.find_elements(By.CSS_SELECTOR, "input[type=password]"), timeout=60,
               interval=0.5)
    driver.find_element(By.CSS_SELECTOR, "input:not([type=password])").send_keys("admin")
    driver.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until("the sign-in to leave the login page", lambda: "/auth/login" not in driver.current_url, timeout=60,
               interval=0.5)


def _shown_run(driver) -> tuple[str, int] | None:
    """(status, progress %) of the run shown in the page's detail pane, inside the plugin's iframe.

    Read in one script: the page re-renders while it polls, so elements found earlier go stale.
    """
    got = driver.execute_script(
        "const d = document.querySelector('[data-testid=run-detail]');"
        "const s = d && d.querySelector('[data-testid=run-status]');"
        "const b = d && d.querySelector('[data-testid=progress]');"
        "return s && b ? [s.textContent.trim(), Number(b.getAttribute('aria-valuenow'))] : null;")
    return (got[0], int(got[1])) if got else None


def _texts(driver, selector: str) -> list[str]:
    return driver.execute_script("return [...document.querySelectorAll(arguments[0])].map(e => e.innerText);",
                                 selector)


def test_endpoints_refuse_requests_without_a_valid_token(ui_stack: Stack):
    st = ui_stack
    r = _get(st, "batches", None)
    assert r.status_code == 401, r.text
    assert _get(st, "batches", "not-a-jwt").status_code == 403
    assert requests.get(f"{st.base_url}/gaussdb-batch/api/batches", cookies={"_token": "forged"},
                        timeout=60).status_code == 403
    # The plugin registers once, from the provider: no plugin import errors.
    errors = st.api.get("/plugins/importErrors")
    assert errors["total_entries"] == 0, errors


def test_the_page_shows_a_run_in_progress_then_finished(ui_stack: Stack, browser):  # noqa: F811
    st = ui_stack
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    gate = psycopg2.connect(st.target_dsn)
    gate.autocommit = True
    with gate.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (GATE_LOCK,))
    try:
        dag_run = st.api.trigger(BATCH, interval=(START, END), run_id="e2e_ui_run")

        def blocked_half_way() -> tuple | None:
            row = _control_run(st)
            return row if row and row[1] == RunStatus.LOADING and row[2] and 0 < row[3] < row[2] else None

        run_id, _, planned, _ = wait_until("the run to load its first chunks and stop at the gate", blocked_half_way,
                                           timeout=240, interval=1, diagnose=st.diagnose)

        # The API, as the admin (bearer token), during the run.
        admin = st.api.login()
        live = _get(st, f"batches/{BATCH}/runs/{run_id}", admin).json()
        assert live["status"] == RunStatus.LOADING and live["live"] and 0 < live["chunks_done"] < planned
        assert {"chunk_no", "status", "rows_written", "lane", "started_at", "seconds"} <= set(live["chunks"][0])
        assert live["links"]["dag_run"] == f"dags/{BATCH}/runs/{dag_run}"

        _sign_in(browser, st)
        browser.get(f"{st.base_url}/plugin/gaussdb-batches")
        frame = wait_until("the Batches page's frame", lambda: browser.find_elements(By.TAG_NAME, "iframe"),
                           timeout=60, interval=0.5)[0]
        browser.switch_to.frame(frame)
        status, pct = wait_until("the page to show the run loading", lambda: (lambda s: s if s and s[0] ==
                                 RunStatus.LOADING else None)(_shown_run(browser)), timeout=60, interval=0.5)
        assert 0 < pct < 100, pct
        browser.switch_to.default_content()
        browser.save_screenshot(str(SCREENSHOTS / "batches_in_progress.png"))
        browser.switch_to.frame(frame)
    finally:
        with gate.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (GATE_LOCK,))
        gate.close()

    # The page polls while the run is live: without a reload it reaches DONE and 100 %.
    status, pct = wait_until("the page to show the run finished", lambda: (lambda s: s if s and s[0] ==
                             RunStatus.DONE else None)(_shown_run(browser)), timeout=240, interval=1,
                             diagnose=st.diagnose)
    assert pct == 100
    assert st.wait_run(BATCH, dag_run)["state"] == "success"
    # The rejects reach Airflow: the DAG run's note counts them and says where they are.
    note = wait_until("the DAG run's note", lambda: st.api.run(BATCH, dag_run).get("note"), timeout=60, interval=1)
    assert "rows quarantined in gaussdb_batch.rejects (Browse > Batches" in note, note
    rejects = _texts(browser, "[data-testid=reject-row]")
    assert rejects and "23514" in rejects[0] and "hidden" not in rejects[0], rejects
    assert _texts(browser, "[data-testid=rollback-link]")
    browser.execute_script("document.querySelector('[data-testid=chunks] tbody tr:nth-last-child(3)')"
                           ".scrollIntoView()")
    browser.switch_to.default_content()
    browser.save_screenshot(str(SCREENSHOTS / "batches_done.png"))

    # Airflow's iframe is sandboxed without allow-top-navigation: a click on the page's
    # "DAG run" link must still open the DAG run in the Airflow window.
    browser.switch_to.frame(frame)
    browser.find_element(By.CSS_SELECTOR, "[data-testid=dag-run-link]").click()
    browser.switch_to.default_content()
    wait_until("the DAG run link to open the DAG run in the Airflow window",
               lambda: f"/dags/{BATCH}/runs/{dag_run}" in browser.current_url, timeout=30, interval=0.5)


def test_rejects_are_paged_and_row_values_need_edit_rights(ui_stack: Stack):
    st = ui_stack
    row = _control_run(st)
    if row is None or row[1] != RunStatus.DONE:  # this test alone: run the batch first
        st.run_batch(BATCH, START, END, "e2e_ui_rejects")
        row = _control_run(st)
    run_id = row[0]
    expected = query(st.target_dsn, "SELECT count(*) FROM gaussdb_batch.rejects WHERE run_id = %s", (run_id,))[0][0]
    assert expected >= 2

    admin = st.api.login()
    first = _get(st, f"batches/{BATCH}/runs/{run_id}/rejects?limit=1", admin).json()
    second = _get(st, f"batches/{BATCH}/runs/{run_id}/rejects?limit=1&offset=1", admin).json()
    assert first["total"] == second["total"] == expected
    assert len(first["items"]) == len(second["items"]) == 1
    assert {x["seq"] for x in first["items"]}.isdisjoint({x["seq"] for x in second["items"]})
    item = first["items"][0]
    assert item["sqlstate"] == "23514" and "not_every_97th" in item["message"]
    assert first["values_shown"] and item["row_text"] and int(item["key_text"]) % 97 == 0

    viewer = _token_for(st, "viewer1", "viewer")
    hidden = _get(st, f"batches/{BATCH}/runs/{run_id}/rejects?limit=1", viewer).json()
    assert not hidden["values_shown"]
    assert [(x["sqlstate"], x["message"]) for x in hidden["items"]] == [(x["sqlstate"], x["message"])
                                                                        for x in first["items"]]
    assert all(x["row_text"] is None and x["key_text"] is None for x in hidden["items"])

    # No response carries the connection's credentials or address.
    recon = _get(st, f"batches/{BATCH}/runs/{run_id}/reconciliation", admin)
    assert recon.status_code == 200 and recon.json()["comparisons"]
    everything = json.dumps([_get(st, "batches", admin).json(), first, recon.json(),
                             _get(st, f"batches/{BATCH}/runs/{run_id}", admin).json()])
    pg = st.pg_env
    for secret in (pg["GAUSSDB_BATCH_PG_PASSWORD"], f"{pg['GAUSSDB_BATCH_PG_USER']}@", ":" + pg["GAUSSDB_BATCH_PG_PORT"]):
        assert secret not in everything
