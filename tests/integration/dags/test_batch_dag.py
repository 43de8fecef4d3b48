"""The batch DAG in real Airflow (dag.test): success path, the TaskGroup form, and statsd metrics."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from tests.integration.engine.conftest import fingerprint, interval_fingerprint, make_orders

ROOT = Path(__file__).resolve().parents[3]
INTERVAL = ["2024-01-01T00:00:00+00:00", "2024-01-03T00:00:00+00:00"]
#: Every other day at midnight: a manual run at 2024-01-03 has the data interval INTERVAL.
EVERY_OTHER_DAY = "0 0 */2 * *"


def _dag_test(dags_folder: Path, spec: dict, *, taskgroup: bool = False, extra_env: dict | None = None,
              interval: list[str] | None = INTERVAL, dag_id: str | None = None, conf: dict | None = None) -> dict:
    """dag.test() of the batch's DAG (or ``dag_id``, e.g. its rollback DAG) in a fresh process."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'plugins'}", AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
               **(extra_env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.dags.dag_test_proc",
         json.dumps({"spec": spec, "taskgroup": taskgroup, "interval": interval, "dags_folder": str(dags_folder),
                     "dag_id": dag_id, "conf": conf})],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    # The last JSON line: listeners (OpenLineage) may log after the result line.
    return json.loads(next(line for line in reversed(proc.stdout.strip().splitlines()) if line.startswith("{")))


@pytest.fixture
def source_orders(orders, source_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 1000)
    return orders


@pytest.mark.parametrize("dialect_name", ["gaussdb"])
def test_batch_dag_succeeds_and_sends_its_metrics_over_statsd(tmp_path, airflow_db, spec_data, source_orders, source_dsn,
                                                             target_dsn, dialect_name):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.5)
    spec = spec_data(chunk_rows=100, lanes=3, retries=1, retry_delay_seconds=1, schedule=EVERY_OTHER_DAY)
    result = _dag_test(tmp_path, spec, extra_env={
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(udp.getsockname()[1]),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    })
    assert result["state"] == "success", result
    assert result["tasks"]["compensate[-1]"] == "skipped"
    assert fingerprint(target_dsn, source_orders) == interval_fingerprint(source_dsn, source_orders, *INTERVAL)
    lines = []
    try:
        while True:
            lines += udp.recv(65535).decode().splitlines()
    except TimeoutError:
        pass
    finally:
        udp.close()
    counters: dict[str, int] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        value, kind = rest.split("|")[:2]
        if kind == "c":
            counters[name] = counters.get(name, 0) + int(value)
    assert counters.get("airflow.gaussdb_batch.orders_sync.rows_extracted") == 667, sorted(counters)
    assert counters.get("airflow.gaussdb_batch.orders_sync.rows_loaded") == 667
    assert any(line.startswith("airflow.gaussdb_batch.orders_sync.chunk_duration:") for line in lines)


@pytest.mark.parametrize("dialect_name", ["postgres"])
def test_batch_as_a_task_group_in_a_hand_written_dag(tmp_path, airflow_db, spec_data, source_orders, source_dsn, target_dsn,
                                                    dialect_name):
    result = _dag_test(tmp_path, spec_data(chunk_rows=250, retries=1, retry_delay_seconds=1, schedule=EVERY_OTHER_DAY),
                       taskgroup=True)
    assert result["state"] == "success", result
    assert result["tasks"]["after[-1]"] == "success"
    assert result["tasks"]["orders_sync.finalize[-1]"] == "success"
    assert result["tasks"]["orders_sync.compensate[-1]"] == "skipped"
    assert fingerprint(target_dsn, source_orders) == interval_fingerprint(source_dsn, source_orders, *INTERVAL)
