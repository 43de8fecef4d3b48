"""The Batches page plugin without a server: its registration, its light import, refusals without a token."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from gaussdb_batch.ui.plugin import URL_PREFIX, GaussDBBatchUIPlugin


@pytest.fixture(scope="module")
def client() -> TestClient:
    (app,) = GaussDBBatchUIPlugin().fastapi_apps
    assert app["url_prefix"] == URL_PREFIX == "/gaussdb-batch"
    return TestClient(app["app"])


def test_the_view_is_embedded_under_a_relative_href():
    (view,) = GaussDBBatchUIPlugin.external_views
    assert view["href"] == "gaussdb-batch/" and view["url_route"] == "gaussdb-batches"
    assert view["destination"] == "nav"


@pytest.mark.parametrize("path", ["/api/batches", "/api/batches/b/runs/1", "/api/batches/b/runs/1/rejects",
                                  "/api/batches/b/runs/1/reconciliation"])
def test_every_endpoint_refuses_a_request_without_a_token(client, path):
    r = client.get(path)
    assert r.status_code == 401, r.text


def test_the_page_is_static_and_fetches_relative_urls(client):
    r = client.get("/")
    assert r.status_code == 200 and "<h1>Batches</h1>" in r.text
    assert 'fetch("api/' in r.text and 'fetch("/' not in r.text


def test_importing_the_plugin_leaves_the_api_server_modules_alone():
    code = ("import sys, json; import gaussdb_batch.ui.plugin;"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('gaussdb_batch.ui', 'fastapi',"
            " 'airflow.api_fastapi.core_api')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == ["gaussdb_batch.ui", "gaussdb_batch.ui.plugin"], loaded
