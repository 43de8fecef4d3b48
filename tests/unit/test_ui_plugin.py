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
                                  "/api/batches/b/runs/1/reconciliation", "/api/batches/b/reconcile"])
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


def test_a_rolled_back_run_links_its_rollback_as_such_not_as_its_dag_run():
    from gaussdb_batch.engine.spec_parser import parse_spec
    from gaussdb_batch.ui.app import _links

    spec = parse_spec({"name": "orders", "schedule": None, "start_date": "2026-01-01",
                       "source": {"conn_id": "s", "table": "a.b", "interval_column": "d"},
                       "target": {"conn_id": "t", "table": "a.b"}, "keys": ["k"]}, origin="test")
    loaded = _links(spec, {"owner_dag_id": "orders", "dag_run_id": "manual__1", "succeeded": True})
    assert loaded["dag_run"] == "dags/orders/runs/manual__1" and loaded["rolled_back_by"] is None
    undone = _links(spec, {"owner_dag_id": "orders__rollback", "dag_run_id": "manual__2", "succeeded": False})
    assert undone["dag_run"] is None and undone["rolled_back_by"] == "dags/orders__rollback/runs/manual__2"


@pytest.mark.parametrize("message, row, shown", [
    ('invalid input syntax for type integer: "PRIVATE-1"', None, 'invalid input syntax for type integer: "\u2026"'),
    ("invalid input value for enum mood: 'sad'", None, "invalid input value for enum mood: '\u2026'"),
    ('value "99999999999" is out of range for type integer', None, 'value "\u2026" is out of range for type integer'),
    ('new row for relation "orders" violates check constraint "orders_check"', None,
     'new row for relation "orders" violates check constraint "orders_check"'),
    ('null value in column "o_custkey" of relation "orders" violates not-null constraint', None,
     'null value in column "o_custkey" of relation "orders" violates not-null constraint'),
    ("line 7: bad date 2026-13-01 (file /data/in.csv)", {"o_orderdate": "2026-13-01"},
     "line 7: bad date \u2026 (file /data/in.csv)"),
])
def test_a_viewers_reason_keeps_object_names_and_loses_values(message, row, shown):
    from gaussdb_batch.ui import queries

    item = {"message": message, "key_text": None, "row_text": json.dumps(row) if row else None}
    assert queries.redact(message, queries._row_values(item)) == shown


def test_a_viewer_sees_the_latest_reconciliation_without_keys_or_digests(monkeypatch):
    import datetime as dt

    from gaussdb_batch.engine import reconciliation
    from gaussdb_batch.engine.choices import DiffKind
    from gaussdb_batch.ui import queries

    when = dt.datetime(2024, 3, 10, 3, 30, tzinfo=dt.timezone.utc)
    latest = {"recon_id": 4, "scope_kind": "table", "started_at": when,
              "differences": {DiffKind.MISSING: 1, DiffKind.EXTRA: 0, DiffKind.CHANGED: 2}}
    records = [{"key": {"k": i}, "kind": DiffKind.CHANGED, "source_digest": "aa", "target_digest": "bb",
                "checked_at": when} for i in range(3)]
    asked = []

    def page(ctx, recon_id, *, offset, limit):
        asked.append((recon_id, offset, limit))
        return records[offset:offset + limit]

    monkeypatch.setattr(queries, "has_control_schema", lambda ctx: True)
    monkeypatch.setattr(reconciliation, "latest_reconciliation", lambda ctx: latest)
    monkeypatch.setattr(reconciliation, "reconciliation_records", page)
    viewer = queries.latest_reconciliation(None, offset=0, limit=2)  # type: ignore[arg-type]
    assert asked == [(4, 0, 3)]
    assert viewer["latest"]["differences"] == {"missing_in_target": 1, "extra_in_target": 0, "changed": 2}
    assert viewer["latest"]["started_at"] == "2024-03-10T03:30:00+00:00"
    assert viewer["records"]["items"] == [{"kind": "changed", "checked_at": "2024-03-10T03:30:00+00:00"}] * 2
    assert viewer["records"]["more"] and not viewer["records"]["values_shown"]
    editor = queries.latest_reconciliation(None, offset=2, limit=2, with_values=True)  # type: ignore[arg-type]
    assert editor["records"]["items"] == [{"key": {"k": 2}, "kind": "changed", "source_digest": "aa",
                                           "target_digest": "bb", "checked_at": "2024-03-10T03:30:00+00:00"}]
    assert not editor["records"]["more"] and editor["records"]["values_shown"]
