"""OpenLineage events of a batch DAG in real Airflow (dag.test): the provider's listener with its
file transport writes every event, and these tests read them back.

The events must name the source (a table, or the tables a query reads) as input with the rows
extracted, the target as output with the rows written (per lane and for the run), and carry the
check's results as data-quality assertions on the target.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg2
import pytest

from tests.integration.dags.test_batch_dag import EVERY_OTHER_DAY, _dag_test, source_orders  # noqa: F401


def _events(path: Path, expect_tasks: set[str], timeout: float = 30) -> list[dict]:
    """COMPLETE events by task id, once every expected task's event is in the file."""
    deadline = time.monotonic() + timeout
    while True:
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
        done = {e["job"]["name"].rsplit(".", 1)[-1] for e in events if e.get("eventType") == "COMPLETE"}
        if expect_tasks <= done or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def _complete(events: list[dict], task: str) -> list[dict]:
    return [e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"].endswith(f".{task}")]


@pytest.fixture
def lineage_env(tmp_path):
    log = tmp_path / "lineage" / "events.jsonl"
    log.parent.mkdir()
    env = {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(log), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "gaussdb_batch_tests",
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
    }
    return log, env


@pytest.mark.parametrize("dialect_name", ["postgres"])
def test_events_carry_source_target_row_counts_and_checks(tmp_path, airflow_db, spec_data, source_orders, schemas,
                                                          pg_env, lineage_env, dialect_name):
    log, env = lineage_env
    spec = spec_data(schedule=EVERY_OTHER_DAY, chunk_rows=250, lanes=2, retries=1, retry_delay_seconds=1,
                     checks={"not_null": ["o_custkey"], "ranges": {"o_totalprice": {"min": 0}}})
    dags = tmp_path / "dags"
    dags.mkdir()
    result = _dag_test(dags, spec, extra_env=env)
    assert result["state"] == "success", result
    events = _events(log, {"extract", "load", "check", "finalize"})
    namespace = f"postgres://{pg_env['GAUSSDB_BATCH_PG_HOST']}:{pg_env['GAUSSDB_BATCH_PG_PORT']}"
    source_name, target_name = f"gbsource.{schemas['data']}.orders", f"gbtarget.{schemas['data']}.orders"

    with psycopg2.connect(f"host={pg_env['GAUSSDB_BATCH_PG_HOST']} port={pg_env['GAUSSDB_BATCH_PG_PORT']} "
                          f"user={pg_env['GAUSSDB_BATCH_PG_USER']} password={pg_env['GAUSSDB_BATCH_PG_PASSWORD']} "
                          "dbname=gbtarget") as c, c.cursor() as cur:
        cur.execute(f'SELECT rows_extracted, rows_loaded FROM "{schemas["control"]}".runs')
        [(extracted, loaded)] = cur.fetchall()
    assert extracted == loaded == 667  # the interval's rows of make_orders' 1000

    [extract] = _complete(events, "extract")
    assert [(i["namespace"], i["name"]) for i in extract["inputs"]] == [(namespace, source_name)]
    assert extract["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] == extracted

    lanes = _complete(events, "load")
    assert len(lanes) == 2
    assert all([(o["namespace"], o["name"]) for o in e["outputs"]] == [(namespace, target_name)] for e in lanes)
    assert sum(e["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] for e in lanes) == loaded

    [check] = _complete(events, "check")
    [checked] = check["inputs"]
    assert checked["name"] == target_name
    assertions = {a["name"]: a for a in checked["inputFacets"]["dataQualityAssertions"]["assertions"]}
    assert set(assertions) == {"count_and_fingerprint", "not_null(o_custkey)", "range(o_totalprice)"}
    assert all(a["success"] for a in assertions.values())
    assert assertions["not_null(o_custkey)"]["column"] == "o_custkey"
    assert checked["inputFacets"]["dataQualityMetrics"]["rowCount"] == loaded

    [final] = _complete(events, "finalize")
    assert [i["name"] for i in final["inputs"]] == [source_name]
    assert [o["name"] for o in final["outputs"]] == [target_name]
    assert final["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == loaded
    # Credentials never reach the events.
    assert pg_env["GAUSSDB_BATCH_PG_PASSWORD"] not in log.read_text()


@pytest.mark.parametrize("dialect_name", ["postgres"])
def test_a_query_source_names_the_tables_it_reads(tmp_path, airflow_db, spec_data, source_orders, schemas, pg_env,
                                                  lineage_env, dialect_name):
    log, env = lineage_env
    sql = (f"SELECT * FROM {schemas['data']}.orders WHERE o_orderdate >= %(start)s "
           "AND o_orderdate < %(end)s")
    spec = spec_data(schedule=EVERY_OTHER_DAY, chunk_rows=500, lanes=1, retries=1, retry_delay_seconds=1,
                     source={"table": None, "interval_column": None, "sql": sql})
    dags = tmp_path / "dags"
    dags.mkdir()
    result = _dag_test(dags, spec, extra_env=env)
    assert result["state"] == "success", result
    events = _events(log, {"extract", "finalize"})
    [extract] = _complete(events, "extract")
    assert [i["name"] for i in extract["inputs"]] == [f"gbsource.{schemas['data']}.orders"]
    assert extract["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] == 667
    assert extract["job"]["facets"]["sql"]["query"] == sql
