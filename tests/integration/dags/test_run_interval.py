"""In real Airflow (dag.test): the run loads its own data interval, the pre-flight stops a bad spec before
any data moves, compensate says when it undid nothing, and rollback takes the DAG run the UI shows."""

from __future__ import annotations

import psycopg2
import pytest

from tests.integration.dags.test_batch_dag import EVERY_OTHER_DAY, INTERVAL, _dag_test
from tests.integration.engine.conftest import control_rows, fingerprint, interval_fingerprint, make_orders

pytestmark = pytest.mark.parametrize("dialect_name", ["postgres"])


@pytest.fixture
def source_orders(orders, source_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 600)
    return orders


def test_the_batch_dag_has_no_interval_params(spec_data, dialect_name, schemas):
    from gaussdb_batch.dag_factory import build_dag
    from gaussdb_batch.engine.spec_parser import parse_spec

    dag = build_dag(parse_spec(spec_data()))
    assert "interval_start" not in dag.params and "interval_end" not in dag.params


def test_a_manual_run_without_a_data_interval_fails_at_once(tmp_path, airflow_db, spec_data, source_orders,
                                                             target_dsn, schemas, dialect_name):
    result = _dag_test(tmp_path, spec_data(retries=2, retry_delay_seconds=1), interval=None)
    assert result["state"] == "failed"
    assert (result["tasks"]["extract[-1]"], result["tries"]["extract[-1]"]) == ("failed", 1)
    assert result["tasks"]["compensate[-1]"] == "skipped"  # nothing was started, so nothing to undo
    assert fingerprint(target_dsn, source_orders)[0] == 0


def test_the_preflight_stops_a_bad_check_column_before_any_data_moves(tmp_path, airflow_db, spec_data, source_orders,
                                                                      target_dsn, schemas, dialect_name):
    spec = spec_data(retries=2, retry_delay_seconds=1, schedule=EVERY_OTHER_DAY, checks={"not_null": ["o_custky"]})
    result = _dag_test(tmp_path, spec)
    assert (result["tasks"]["extract[-1]"], result["tries"]["extract[-1]"]) == ("failed", 1)
    assert result["tasks"]["compensate[-1]"] == "skipped"
    assert fingerprint(target_dsn, source_orders)[0] == 0
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schemas["control"],))
        assert cur.fetchone() is None  # not even the control schema was created


def test_a_missing_connection_fails_without_retries(tmp_path, airflow_db, spec_data, source_orders, target_dsn,
                                                    dialect_name):
    spec = spec_data(retries=2, retry_delay_seconds=1, schedule=EVERY_OTHER_DAY, source={"conn_id": "nowhere"})
    result = _dag_test(tmp_path, spec)
    assert (result["tasks"]["extract[-1]"], result["tries"]["extract[-1]"]) == ("failed", 1)


def test_rollback_takes_the_dag_run_id_the_ui_shows(tmp_path, airflow_db, spec_data, source_orders, source_dsn,
                                                   target_dsn, schemas, dialect_name):
    before = fingerprint(target_dsn, source_orders)
    spec = spec_data(retries=1, retry_delay_seconds=1, schedule=EVERY_OTHER_DAY)
    loaded = _dag_test(tmp_path, spec)
    assert loaded["state"] == "success", loaded
    assert fingerprint(target_dsn, source_orders) == interval_fingerprint(source_dsn, source_orders, *INTERVAL)
    [(run_id, dag_run_id)] = control_rows(target_dsn, schemas["control"], "SELECT run_id, dag_run_id FROM {c}.runs")
    assert dag_run_id == loaded["run_id"]

    unknown = _dag_test(tmp_path, spec, interval=None, dag_id="orders_sync__rollback",
                        conf={"dag_run_id": "manual__no_such_run"})
    assert unknown["tasks"]["rollback[-1]"] == "failed" and unknown["tries"]["rollback[-1]"] == 1
    undone = _dag_test(tmp_path, spec, interval=None, dag_id="orders_sync__rollback",
                       conf={"dag_run_id": loaded["run_id"]})
    assert undone["tasks"]["rollback[-1]"] == "success", undone
    assert fingerprint(target_dsn, source_orders) == before
    [(status,)] = control_rows(target_dsn, schemas["control"], "SELECT status FROM {c}.runs")
    assert status == "COMPENSATED"
    again = _dag_test(tmp_path, spec, interval=None, dag_id="orders_sync__rollback", conf={"run_id": run_id})
    assert again["tasks"]["rollback[-1]"] == "skipped"  # already compensated: it undid nothing
