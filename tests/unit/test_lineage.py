"""OpenLineage datasets of a batch without a server: naming, query parsing, files, assertions."""

from __future__ import annotations

import json

from gaussdb_batch.engine.spec_parser import parse_spec
from gaussdb_batch.lineage import check_assertions, source_datasets, target_dataset

BASE = {"name": "items", "schedule": "0 0 * * *", "target": {"conn_id": "ol_dst", "table": "dw.items"},
        "keys": ["k"]}


def _conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "gaussdb", **fields}))


def test_tables_are_named_by_the_postgres_convention(monkeypatch):
    _conn(monkeypatch, "ol_src", host="Src.Example", port=8000, schema="erp", password="secret")
    _conn(monkeypatch, "ol_dst", host="dw", schema="sales")
    spec = parse_spec({**BASE, "source": {"conn_id": "ol_src", "table": "app.items", "interval_column": "t"}})
    [src] = source_datasets(spec, rows=5)
    assert (src.namespace, src.name) == ("postgres://src.example:8000", "erp.app.items")
    assert src.inputFacets["inputStatistics"].rowCount == 5
    out = target_dataset(spec, output=True)
    assert (out.namespace, out.name) == ("postgres://dw:5432", "sales.dw.items")
    assert "secret" not in repr(src)


def test_a_query_source_lists_the_tables_it_reads(monkeypatch):
    _conn(monkeypatch, "ol_src", host="src", port=8000, schema="erp")
    sql = ("SELECT i.*, c.region FROM app.items i JOIN ref.customers c ON c.id = i.customer_id "
           "WHERE i.t >= %(start)s AND i.t < %(end)s")
    spec = parse_spec({**BASE, "source": {"conn_id": "ol_src", "sql": sql}})
    names = sorted(d.name for d in source_datasets(spec, rows=9))
    assert names == ["erp.app.items", "erp.ref.customers"]
    # A count of the query's rows belongs to no single table of a join.
    assert all(not d.inputFacets for d in source_datasets(spec, rows=9))


def test_files_are_file_datasets(monkeypatch, tmp_path):
    spec = parse_spec({**BASE, "source": {"files": str(tmp_path / "*.csv"), "interval_column": "t"}})
    [src] = source_datasets(spec, rows=3)
    assert (src.namespace, src.name) == ("file", str(tmp_path / "*.csv"))


def test_check_results_become_assertions():
    spec = parse_spec({**BASE, "source": {"conn_id": "ol_src", "table": "app.items", "interval_column": "t"}})
    result = {"chunks": 3, "rows": 30, "repaired": [2], "quality": {
        "builtin": {"not_null(customer_id)": 0, "range(price)": 2},
        "expectations": {"suite": "items", "expectations": [
            {"expectation": "price >= 0", "type": "expect_column_values_to_be_between",
             "kwargs": {"column": "price"}, "severity": "critical", "success": True}]}}}
    got = {a.name: (a.assertion, a.success, a.column) for a in check_assertions(spec, result)}
    assert got == {
        "count_and_fingerprint": ("reconciliation", True, None),
        "not_null(customer_id)": ("not_null", True, "customer_id"),
        "range(price)": ("range", False, "price"),
        "price >= 0": ("expect_column_values_to_be_between", True, "price"),
    }
