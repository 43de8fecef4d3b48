"""The web UI in a real browser: headless Chromium (Debian's, driven by its chromedriver) signs
in with the simple auth manager, opens the demo DAG and finds its last run shown as success.

The screenshot is saved under .local/airflow-e2e/screenshots/; docs/ui.png is one of them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.e2e.conftest import ADMIN_PASSWORD, DAG_ID, E2E_HOME, Stack, wait_until

pytestmark = pytest.mark.e2e

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = E2E_HOME / "screenshots"


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="e2e-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-extensions", "--window-size=1440,1000",
                f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def sign_in(driver, st: Stack) -> None:
    """Sign in through the login form of the simple auth manager."""
    driver.get(f"{st.base_url}/auth/login")
    wait_until("the login form", lambda: driver.find_elements(By.CSS_SELECTOR, "input[type=password]"),
               timeout=60, interval=0.5)
    driver.find_element(By.CSS_SELECTOR, "input:not([type=password])").send_keys("admin")
    driver.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until("the sign-in to leave the login page", lambda: "/auth/login" not in driver.current_url,
               timeout=60, interval=0.5)


def screenshot(driver, name: str) -> Path:
    """Save a screenshot (and the page's text next to it) under SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(shot))
    (SCREENSHOTS / f"{name}.txt").write_text(page_text(driver))
    assert shot.stat().st_size > 10_000
    return shot


def page_text(driver) -> str:
    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except WebDriverException:
        return ""


def test_ui_shows_the_last_run_of_the_demo_dag_as_success(local_stack: Stack, browser):
    st = local_stack
    run_id = st.run_batch(DAG_ID, dt.date(1992, 1, 1), dt.date(1992, 4, 1), "e2e_ui_latest")
    runs = st.api.get(f"/dags/{DAG_ID}/dagRuns", limit=1, order_by="-run_after")["dag_runs"]
    assert runs and runs[0]["dag_run_id"] == run_id and runs[0]["state"] == "success", runs

    sign_in(browser, st)

    # The DAG page: its "Latest Run" stat links to our run and carries a success state badge.
    browser.get(f"{st.base_url}/dags/{DAG_ID}")
    latest = "//div[@data-testid='stat'][h2[normalize-space()='Latest Run']]"

    def latest_run_badge():
        badges = browser.find_elements(By.XPATH, f"{latest}//*[@data-testid='state-badge']")
        links = browser.find_elements(By.XPATH, f"{latest}//a[contains(@href, '/runs/{run_id}')]")
        return badges[0].get_attribute("aria-label") if badges and links else None

    state = wait_until("the DAG page to show its latest run", latest_run_badge, timeout=90, interval=1)
    shot = screenshot(browser, DAG_ID)
    assert state == "success", f"the UI shows the latest run of {DAG_ID} as {state!r}"
    assert DAG_ID in page_text(browser)
    if os.environ.get("GAUSSDB_BATCH_E2E_SAVE_SCREENSHOT"):
        shutil.copy(shot, os.environ["GAUSSDB_BATCH_E2E_SAVE_SCREENSHOT"])
