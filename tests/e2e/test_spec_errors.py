"""A bad spec in running Airflow: the dag-processor reports the import error of that batch's file alone
(file, line, field, did you mean), every other batch keeps its DAGs, and the UI lists the error."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import DAG_ID, SPEC, Stack, wait_until
from tests.e2e.test_web_ui import browser, page_text, screenshot, sign_in  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.e2e
BAD = "e2e_typo"


def test_a_typo_in_a_new_spec_is_its_own_import_error(local_stack: Stack, browser):  # noqa: F811
    st = local_stack
    text = SPEC.replace(f"name: {DAG_ID}", f"name: {BAD}").replace("chunk_rows: 25", "chunk_row: 25")
    line = text.splitlines().index("chunk_row: 25") + 1
    dag_file = st.add_batch(BAD, text)
    spec_file = st.include / "batches" / f"{BAD}.yaml"
    try:
        def reported():
            errors = st.api.get("/importErrors", limit=100)["import_errors"]
            return [e for e in errors if e["filename"].endswith(f"{BAD}.py")] or None

        [error] = wait_until("the dag-processor to report the bad spec", reported, timeout=180, interval=3)
        assert f"{spec_file}:{line}: batch '{BAD}': chunk_row: unknown key, did you mean 'chunk_rows'?" \
            in error["stack_trace"]
        dags = {d["dag_id"] for d in st.api.get("/dags", limit=100)["dags"]}
        assert {DAG_ID, f"{DAG_ID}__rollback"} <= dags and BAD not in dags

        sign_in(browser, st)
        browser.get(f"{st.base_url}/")
        wait_until("the home page to list the import error",
                   lambda: "import error" in page_text(browser).lower() or None, timeout=90, interval=2)
        screenshot(browser, "import_error")
    finally:
        dag_file.unlink()
        spec_file.unlink()
    wait_until("the import error to clear once the file is gone",
               lambda: not [e for e in st.api.get("/importErrors", limit=100)["import_errors"]
                            if e["filename"].endswith(f"{BAD}.py")] or None, timeout=180, interval=3)
