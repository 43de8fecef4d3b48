"""The target table as an Asset: its URI from the connection, outlets on finalize, the event's extra."""

from __future__ import annotations

import datetime as dt
import json
import logging
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG

from gaussdb_batch.assets import (
    EXTRA_KEYS,
    AssetConfigError,
    event_extra,
    target_asset,
    target_outlets,
)
from gaussdb_batch.dag_factory import add_batch_tasks
from gaussdb_batch.engine.spec_parser import parse_spec

SPEC = parse_spec({
    "name": "items", "schedule": "0 0 * * *",
    "source": {"conn_id": "src", "table": "app.items", "interval_column": "updated_at"},
    "target": {"conn_id": "assets_dst", "table": "dw.items"}, "keys": ["k"],
})


def _conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "gaussdb", **fields}))


def test_the_uri_is_the_postgres_convention_built_from_the_connection(monkeypatch):
    _conn(monkeypatch, "assets_dst", host="Gauss.Example", port=8000, schema="sales", login="u", password="secret")
    asset = target_asset(SPEC)
    assert asset.uri == "postgres://gauss.example:8000/sales/dw/items"
    assert asset.name == asset.uri and asset.extra == {"batch": "items", "table": "dw.items"}
    assert "secret" not in repr(asset) and "u@" not in asset.uri


def test_the_port_defaults_to_5432(monkeypatch):
    _conn(monkeypatch, "assets_dst", host="db", schema="sales")
    assert target_asset(SPEC).uri == "postgres://db:5432/sales/dw/items"


def test_a_connection_without_a_database_is_a_clear_error(monkeypatch):
    _conn(monkeypatch, "assets_dst", host="db", port=8000)
    with pytest.raises(AssetConfigError, match=r"connection 'assets_dst': the connection has no database"):
        target_asset(SPEC)


def test_an_unresolvable_connection_gives_no_outlet_and_says_why(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_ASSETS_DST", raising=False)
    with caplog.at_level(logging.WARNING, logger="gaussdb_batch.assets"):
        assert target_outlets(SPEC) == []
    assert "batch=items: no Asset for target dw.items" in caplog.text


def test_only_finalize_has_the_outlet(monkeypatch):
    _conn(monkeypatch, "assets_dst", host="db", port=8000, schema="sales")
    with DAG(dag_id="assets_dag", schedule=None, start_date=dt.datetime(2024, 1, 1)) as dag:
        add_batch_tasks(SPEC)
    with_outlets = {t.task_id: [a.uri for a in t.outlets] for t in dag.tasks if t.outlets}
    assert with_outlets == {"finalize": ["postgres://db:8000/sales/dw/items"]}


def test_event_extra_carries_interval_counts_and_run():
    run = SimpleNamespace(attempt=2, interval_start=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
                          interval_end=dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc))
    summary = {"run_id": 7, "chunks": 3, "rows_loaded": 250, "rows_rejected": 1, "seconds": 1.5}
    extra = event_extra(SPEC, summary, run)
    assert extra == {"batch": "items", "run_id": 7, "attempt": 2, "interval_start": "2024-01-01T00:00:00+00:00",
                     "interval_end": "2024-01-02T00:00:00+00:00", "rows_written": 250, "rows_rejected": 1,
                     "chunks": 3}
    assert tuple(extra) == EXTRA_KEYS
