"""The UI and the loaded interval agree, in a real browser (headless Chromium).

The trigger form offers Airflow's own data interval and no interval params of this project;
a DAG run's details show the data interval the control schema recorded for its batch run,
and its note names that interval and the batch run number. Screenshots go to .local/airflow-e2e/screenshots/.
"""

from __future__ import annotations

import datetime as dt

import pytest
from selenium.webdriver.common.by import By

from tests.e2e.conftest import DAG_ID, Stack, query, wait_until
from tests.e2e.test_web_ui import browser, page_text, screenshot, sign_in  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.e2e


def test_the_trigger_form_offers_the_data_interval_and_no_interval_params(local_stack: Stack, browser):  # noqa: F811
    st = local_stack
    sign_in(browser, st)
    browser.get(f"{st.base_url}/dags/{DAG_ID}")
    trigger = wait_until("the Trigger button", lambda: [b for b in browser.find_elements(By.TAG_NAME, "button")
                                                        if b.text.strip() == "Trigger"], timeout=90, interval=1)
    trigger[0].click()
    wait_until("the trigger form", lambda: browser.find_elements(By.CSS_SELECTOR, "[role=dialog]"),
               timeout=60, interval=0.5)
    wait_until("the form's fields", lambda: "Logical Date" in page_text(browser) or None, timeout=30, interval=0.5)
    screenshot(browser, "trigger_form")
    text = page_text(browser)
    assert "Data Interval" in text and "Specify Manually" in text, text[-2000:]
    # What the form would render as "Run Parameters": the DAG's params, as the UI reads them.
    params = st.api.get(f"/dags/{DAG_ID}/details").get("params") or {}
    assert not set(params) & {"interval_start", "interval_end"}, f"the batch DAG still offers {sorted(params)}"
    assert "interval_start" not in text and "Run Parameters" not in text


def test_the_run_shows_the_interval_it_loaded_and_its_batch_run(local_stack: Stack, browser):  # noqa: F811
    st = local_stack
    start, end = dt.date(1992, 7, 1), dt.date(1992, 10, 1)
    run_id = st.run_batch(DAG_ID, start, end, "e2e_ui_interval")
    [(batch_run, loaded_start, loaded_end)] = query(
        st.target_dsn, "SELECT run_id, interval_start, interval_end FROM gaussdb_batch.runs"
                       " WHERE batch = %s AND dag_run_id = %s", (DAG_ID, run_id))
    assert (loaded_start.date(), loaded_end.date()) == (start, end)

    # The scheduler's listener (gaussdb_batch.run_note) writes the run's note when it ends.
    note = wait_until("the DAG run's note", lambda: st.api.run(DAG_ID, run_id).get("note"), timeout=60, interval=1)
    assert note == f"[gaussdb-batch] Loaded 1992-07-01 .. 1992-10-01: batch run {batch_run} (attempt 1) in gaussdb_batch.runs, success"

    sign_in(browser, st)
    browser.get(f"{st.base_url}/dags/{DAG_ID}/runs/{run_id}/details")
    details = wait_until("the run's details", lambda: page_text(browser) if "Data Interval End" in page_text(browser)
                         else None, timeout=90, interval=1)
    screenshot(browser, "run_details")
    assert "Data Interval Start 1992-07-01 00:00:00" in details and "Data Interval End 1992-10-01 00:00:00" in details
    assert f"batch run {batch_run}" in details, "the run's note is not shown on the DAG run"

    # Cleared and run again, the DAG run loads a new attempt: its note is rewritten to name it.
    st.api.post(f"/dags/{DAG_ID}/dagRuns/{run_id}/clear", {"dry_run": False})
    wait_until("the cleared run to start again", lambda: st.api.run(DAG_ID, run_id)["state"] != "success" or None,
               timeout=60, interval=0.5)
    st.assert_success(DAG_ID, st.wait_run(DAG_ID, run_id))
    [(rerun, attempt)] = query(st.target_dsn, "SELECT run_id, attempt FROM gaussdb_batch.runs WHERE batch = %s AND"
                                              " dag_run_id = %s ORDER BY run_id DESC LIMIT 1", (DAG_ID, run_id))
    assert rerun != batch_run
    note = wait_until("the note to name the rerun's batch run", lambda: (lambda n: n if f"batch run {rerun} " in (n or "")
                      else None)(st.api.run(DAG_ID, run_id).get("note")), timeout=60, interval=1)
    assert note.startswith("[gaussdb-batch] Loaded 1992-07-01 .. 1992-10-01") and note.endswith("success"), note
