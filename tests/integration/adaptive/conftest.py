"""Adaptive fixtures: an events table in source and target, and the adaptive DAG built from a spec."""

from __future__ import annotations

import importlib.util
import json
import string
import threading
from pathlib import Path

import psycopg2
import pytest

from tests.integration.engine.conftest import (  # noqa: F401  (fixtures)
    conn_extra, conns, dialect_name, engine_driver, make_ctx, opengauss_semantics, orders, schemas, spec_data,
)

SPEC_TEMPLATE = Path(__file__).with_name("adaptive_events.yaml")

EVENTS_SOURCE_DDL = """
CREATE TABLE {t} (
    event_id bigint PRIMARY KEY,
    account integer NOT NULL,
    amount numeric(12,2),
    note varchar(40),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
EVENTS_TARGET_DDL = EVENTS_SOURCE_DDL.replace(" DEFAULT clock_timestamp()", "")

DAG_FILE = """
# An Airflow DAG file (the DagBag's safe mode only reads files that say "airflow" and "dag").
from gaussdb_batch.engine.spec_parser import load_spec
from gaussdb_batch.dag_factory import build_dag

dag = build_dag(load_spec({spec!r}))
"""


class Events:
    """The source events table: insert rows (each insert commits; created_at is the insert's clock)."""

    def __init__(self, dsn: str, table: str):
        self.dsn, self.table = dsn, table
        self._next = 1
        self._lock = threading.Lock()

    def insert(self, n: int) -> None:
        with self._lock:
            first, self._next = self._next, self._next + n
        with psycopg2.connect(self.dsn) as c, c.cursor() as cur:
            cur.execute(
                f"INSERT INTO {self.table} (event_id, account, amount, note) "
                "SELECT k, k %% 97, (k * 1.25)::numeric(12,2), 'event ' || k FROM generate_series(%s, %s) k",
                (first, first + n - 1),
            )
        c.close()

    @property
    def inserted(self) -> int:
        return self._next - 1


@pytest.fixture
def events(schemas, target_dsn, source_dsn):  # noqa: F811
    t = f'"{schemas["data"]}".events'
    for dsn, ddl in ((source_dsn, EVENTS_SOURCE_DDL), (target_dsn, EVENTS_TARGET_DDL)):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute(ddl.format(t=t))
        c.close()
    return Events(source_dsn, t)


@pytest.fixture
def adaptive_dag(airflow_db, tmp_path, monkeypatch, conns, schemas, dialect_name, events):  # noqa: F811
    """build(**bounds) -> the adaptive DAG of a spec made from adaptive_events.yaml, parsed from a DAG file.

    dag.test() only runs DAGs it finds in a bundle, so the DAG file goes into a folder that
    becomes the only bundle for this test.
    """
    dags = tmp_path / "dags"
    dags.mkdir()
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([{
        "name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(dags)},
    }]))

    def build(**values):
        fields = {
            "name": f"adaptive_events_{dialect_name}", "t_min": 0.2, "t_max": 1.4, "step": 0.4, "threshold": 50,
            "source_conn": conns["source"], "target_conn": conns["target"], "schema": schemas["data"],
            "control": schemas["control"], "chunk_rows": 40, "chunk_target_seconds": 60,
        }
        fields.update(values)
        spec_path = tmp_path / "adaptive_events.yaml"
        spec_path.write_text(string.Template(SPEC_TEMPLATE.read_text()).substitute(fields))
        dag_path = dags / "adaptive_events_dag.py"
        dag_path.write_text(DAG_FILE.format(spec=str(spec_path)))
        mod_spec = importlib.util.spec_from_file_location(f"adaptive_events_dag_{dialect_name}", dag_path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        return module.dag

    return build
