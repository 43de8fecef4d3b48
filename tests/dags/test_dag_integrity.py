"""DAG integrity: every file in dags/ parses fast, offline, and declares what production needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
SETTINGS = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())["airflow"]
DECLARED_POOLS = {p["pool_name"] for p in SETTINGS["pools"]}

# Imports each DAG file with every way out of the process blocked: Python sockets and the
# libpq-based drivers raise on connect. Prints {file: {"seconds": .., "error": ..}} as JSON.
_OFFLINE_IMPORT = r"""
import json, socket, sys, time, importlib.util
def refuse(*a, **k):
    raise RuntimeError("DAG import tried to open a connection")
socket.socket.connect = refuse
socket.create_connection = refuse
import psycopg2, psycopg
psycopg2.connect = refuse
psycopg.connect = refuse
import airflow.sdk  # the import cost of Airflow itself is not the DAG file's
out = {}
for path in sys.argv[1:]:
    t0 = time.perf_counter()
    try:
        spec = importlib.util.spec_from_file_location("dagfile_" + str(abs(hash(path))), path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out[path] = {"seconds": time.perf_counter() - t0, "error": None}
    except Exception as exc:
        out[path] = {"seconds": time.perf_counter() - t0, "error": repr(exc)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def offline_import():
    env = dict(os.environ)
    # Connections that would fail if anything tried them.
    env["AIRFLOW_CONN_GAUSSDB_DEFAULT"] = "gaussdb://nobody:secret@192.0.2.1:1/nowhere"
    env["AIRFLOW_CONN_GAUSSDB_SOURCE"] = "gaussdb://nobody:secret@192.0.2.1:1/nowhere"
    proc = subprocess.run(
        [sys.executable, "-c", _OFFLINE_IMPORT, *map(str, DAG_FILES)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_there_are_dag_files():
    assert DAG_FILES, "dags/ has no DAG files"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_offline_in_under_a_second(offline_import, path):
    result = offline_import[str(path)]
    assert result["error"] is None, f"{path.name} failed to import with the network blocked: {result['error']}"
    assert result["seconds"] < 1.0, f"{path.name} took {result['seconds']:.2f}s to parse"


def test_every_spec_validates_with_its_dag_file():
    """The same checks as `gaussdb-batch validate` (file, line, field; a DAG file per spec; unique names)."""
    from gaussdb_batch.cli import validate

    report = validate([ROOT / "include" / "batches"], dags=ROOT / "dags")
    assert report.errors == []
    assert len(report.ok) == len(list((ROOT / "include" / "batches").glob("*.yaml")))


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAGs found"


def test_every_dag_is_production_ready(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    problems = []
    for dag_id, dag in dagbag.dags.items():
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        timetable = dag.timetable
        if getattr(timetable, "_expression", None) is not None and not isinstance(timetable, CronDataIntervalTimetable):
            problems.append(f"{dag_id}: cron schedule without a data interval ({type(timetable).__name__})")
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            if not task.owner or task.owner == "airflow":
                problems.append(f"{where}: no owner")
            if (task.retries or 0) < 1:
                problems.append(f"{where}: retries < 1")
            if not task.retry_exponential_backoff:
                problems.append(f"{where}: no exponential backoff")
            if task.pool not in DECLARED_POOLS:
                problems.append(f"{where}: pool {task.pool!r} is not declared in airflow_settings.yaml")
    assert not problems, "\n".join(problems)


def test_interval_batches_use_data_interval_timetables(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    scheduled = [d for d in dagbag.dags.values()
                 if d.timetable.__class__.__name__ not in ("NullTimetable", "AssetTriggeredTimetable")
                 and "rollback" not in d.tags]
    assert scheduled
    for dag in scheduled:
        assert isinstance(dag.timetable, CronDataIntervalTimetable) or "adaptive" in dag.tags, dag.dag_id


def test_no_connection_extra_is_too_short_to_mask():
    """Airflow masks every extra value in task logs; a string under its minimum length makes each task log
    start with "Skipping masking for a secret as it's too short"."""
    from airflow.configuration import conf

    minimum = conf.getint("logging", "min_length_masked_secret", fallback=5)
    short = [f"{c['conn_id']}.{key}={value!r}" for c in SETTINGS["connections"]
             for key, value in (c.get("conn_extra") or {}).items() if isinstance(value, str) and len(value) < minimum]
    assert not short, f"extras shorter than {minimum} characters: {short} (write timeouts as whole seconds)"
