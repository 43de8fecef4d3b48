"""The DAG factory's public task-adding API, without a server: what a hand-written DAG can rely on."""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from gaussdb_batch.dag_factory import add_batch_tasks, batch_task_group, build_dag, default_args
from gaussdb_batch.engine.spec_parser import parse_spec
from gaussdb_batch.operators.batch import ExtractOperator

SPEC_DATA = {
    "name": "items",
    "schedule": "0 0 * * *",
    "source": {"conn_id": "src", "table": "app.items", "interval_column": "updated_at"},
    "target": {"conn_id": "dst", "table": "dw.items"},
    "keys": ["k"],
    "lanes": 3,
}
SPEC = parse_spec(SPEC_DATA)


def test_add_batch_tasks_returns_the_tasks_by_name_with_one_end():
    with DAG(dag_id="handwritten", schedule=None, start_date=dt.datetime(2024, 1, 1),
             default_args=default_args(SPEC)) as dag:
        tasks = add_batch_tasks(SPEC)
        after = EmptyOperator(task_id="after")
        tasks["done"] >> after
    assert sorted(tasks) == ["check", "compensate", "done", "extract", "finalize", "load"]
    assert isinstance(tasks["extract"], ExtractOperator) and tasks["extract"].interval is None
    assert [t.task_id for t in dag.leaves] == ["after"]
    assert dag.get_task("done").upstream_task_ids == {"finalize", "compensate"}
    assert dag.get_task("compensate").trigger_rule == "one_failed"


def test_add_batch_tasks_takes_an_interval_override():
    with DAG(dag_id="override", schedule=None, start_date=dt.datetime(2024, 1, 1)):
        tasks = add_batch_tasks(SPEC, interval={"start": "2024-01-01T00:00:00+00:00",
                                                "end": "2024-01-02T00:00:00+00:00"})
    assert tasks["extract"].interval["end"] == "2024-01-02T00:00:00+00:00"


def test_the_task_group_and_the_dag_hold_the_same_tasks():
    with DAG(dag_id="grouped", schedule=None, start_date=dt.datetime(2024, 1, 1)) as dag:
        batch_task_group(SPEC)
    assert {t.task_id for t in dag.tasks} == {f"items.{t.task_id}" for t in build_dag(SPEC).tasks}


RECONCILED = parse_spec({
    **SPEC_DATA,
    "pool": "items_pool",
    "tags": ["sales"],
    "reconcile": {"schedule": "30 3 * * *", "scope": {"last_intervals": 3}, "leaf_rows": 500},
})


def test_a_batch_with_a_reconcile_section_gets_its_reconcile_dag():
    from airflow.sdk import CronTriggerTimetable

    from gaussdb_batch.dag_factory import RECONCILE_TASK_ID, dags_for_spec
    from gaussdb_batch.operators.reconcile import ReconcileOperator

    assert "items__reconcile" not in dags_for_spec(SPEC)
    dags = dags_for_spec(RECONCILED)
    assert set(dags) == {"items", "items__rollback", "items__reconcile"}
    dag = dags["items__reconcile"]
    assert isinstance(dag.timetable, CronTriggerTimetable) and dag.timetable.expression == "30 3 * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert {"gaussdb-batch", "sales", "reconcile"} <= set(dag.tags)
    assert [t.task_id for t in dag.tasks] == [RECONCILE_TASK_ID]
    task = dag.get_task(RECONCILE_TASK_ID)
    assert isinstance(task, ReconcileOperator) and task.pool == "items_pool" and task.spec is RECONCILED
    assert task.retries == RECONCILED.retries and task.owner == RECONCILED.owner


def test_a_failed_reconciliation_alerts_like_a_failed_batch_task():
    from gaussdb_batch.dag_factory import dags_for_spec

    alerted = parse_spec({**SPEC_DATA, "alerting": {"on_failure": [{"type": "webhook", "conn_id": "pager"}]},
                          "reconcile": {"schedule": "@daily", "scope": "table"}})
    task = dags_for_spec(alerted)["items__reconcile"].get_task("reconcile")
    assert [n.conn_id for n in task.on_failure_callback] == ["pager"]


def test_the_reconcile_task_group_holds_the_reconcile_task():
    from gaussdb_batch.dag_factory import reconcile_task_group

    with DAG(dag_id="grouped_reconcile", schedule=None, start_date=dt.datetime(2024, 1, 1)) as dag:
        reconcile_task_group(RECONCILED)
    assert [(t.task_id, t.pool) for t in dag.tasks] == [("items__reconcile.reconcile", "items_pool")]


def test_repair_mode_runs_the_batch_tasks_on_the_reconciliation_s_result():
    from gaussdb_batch.dag_factory import dags_for_spec, reconcile_task_group
    from gaussdb_batch.operators.batch import ExtractOperator

    repair = parse_spec({**SPEC_DATA, "pool": "items_pool",
                         "reconcile": {"schedule": "@daily", "scope": "table", "mode": "repair"}})
    dag = dags_for_spec(repair)["items__reconcile"]
    assert {t.task_id for t in dag.tasks} == {"reconcile", "extract", "load", "check", "finalize", "compensate",
                                              "done"}
    extract = dag.get_task("extract")
    assert isinstance(extract, ExtractOperator) and extract.interval is None
    assert extract.upstream_task_ids == {"reconcile"} and "repair" in extract.template_fields
    assert dag.get_task("compensate").trigger_rule == "one_failed"
    assert dag.get_task("load").upstream_task_ids == {"extract"}
    with DAG(dag_id="grouped_repair", schedule=None, start_date=dt.datetime(2024, 1, 1)) as grouped:
        reconcile_task_group(repair, group_id="fix")
    assert {t.task_id for t in grouped.tasks} == {f"fix.{t}" for t in ("reconcile", "extract", "load", "check",
                                                                      "finalize", "compensate", "done")}


def test_a_reconcile_operator_needs_the_section():
    import pytest

    from gaussdb_batch.operators.reconcile import ReconcileOperator

    with pytest.raises(ValueError, match="no reconcile section"):
        ReconcileOperator(task_id="reconcile", spec=SPEC)
