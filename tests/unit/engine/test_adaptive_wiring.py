"""Adaptive batches without a server: spec fields, the continuous DAG's shape, the trigger's round trip."""

from __future__ import annotations

import copy

import pytest

from gaussdb_batch.dag_factory import build_dag
from gaussdb_batch.engine.spec import ChunkSizing, SpecError
from gaussdb_batch.engine.spec_parser import parse_spec

ADAPTIVE = {
    "name": "events",
    "schedule": {"type": "adaptive", "t_min": 1, "t_max": 30, "step": 2, "backlog_threshold": 500},
    "source": {"conn_id": "src", "table": "app.events", "interval_column": "created_at"},
    "target": {"conn_id": "dst", "table": "dw.events"},
    "keys": ["event_id"],
    "chunk_rows": 1000,
    "chunk_target_seconds": 5,
    "chunk_rows_min": 100,
    "chunk_rows_max": 50_000,
}


def spec_with(**changes):
    data = copy.deepcopy(ADAPTIVE)
    for key, value in changes.items():
        if value is KeyError:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_adaptive_chunk_fields_parse_with_the_step_defaulting_to_the_minimum():
    spec = parse_spec(ADAPTIVE)
    assert spec.chunk_sizing == ChunkSizing(target_seconds=5.0, min_rows=100, max_rows=50_000, step=100)
    assert parse_spec(spec_with(chunk_rows_step=250)).chunk_sizing == ChunkSizing(5.0, 100, 50_000, 250)
    plain = parse_spec(spec_with(chunk_target_seconds=KeyError, chunk_rows_min=KeyError, chunk_rows_max=KeyError))
    assert plain.chunk_sizing is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"chunk_target_seconds": 0}, "chunk_target_seconds: must be > 0"),
        ({"chunk_target_seconds": "fast"}, "chunk_target_seconds: must be a number"),
        ({"chunk_rows_min": KeyError}, "chunk_rows_min: is required"),
        ({"chunk_rows_max": KeyError}, "chunk_rows_max: is required"),
        ({"chunk_rows_min": 0}, "chunk_rows_min: must be >= 1"),
        ({"chunk_rows_max": 50}, "chunk_rows_max: must be >= chunk_rows_min"),
        ({"chunk_rows": 60_000}, "chunk_rows: the first chunk size must lie in"),
        ({"chunk_rows_step": 0}, "chunk_rows_step: must be >= 1"),
        ({"chunk_target_seconds": KeyError}, "chunk_rows_min: only applies with chunk_target_seconds"),
        ({"schedule": "0 * * * *"}, "chunk_target_seconds: adaptive chunk size needs an adaptive schedule"),
        ({"source": {"conn_id": "src", "sql": "SELECT * FROM t WHERE a >= %(start)s AND a < %(end)s"}},
         "source.table: an adaptive schedule counts its backlog in a source table"),
        ({"schedule": {**ADAPTIVE["schedule"], "watermark_column": "updated_at"}},
         "schedule.watermark_column: must be the source's interval_column"),
    ],
)
def test_bad_adaptive_values_name_the_field(changes, field):
    with pytest.raises(SpecError, match=f"batch 'events': {field}"):
        parse_spec(spec_with(**changes))


def test_adaptive_spec_builds_a_continuous_dag_that_starts_with_the_backlog_sensor():
    from airflow.sdk.definitions.timetables.simple import ContinuousTimetable

    from gaussdb_batch.dag_factory import ADVANCE_TASK_ID, WAIT_TASK_ID
    from gaussdb_batch.operators.adaptive import BacklogSensor

    dag = build_dag(parse_spec(ADAPTIVE))
    assert isinstance(dag.timetable, ContinuousTimetable)
    assert dag.max_active_runs == 1 and "adaptive" in dag.tags
    roots = [t.task_id for t in dag.roots]
    assert roots == [WAIT_TASK_ID] and isinstance(dag.get_task(WAIT_TASK_ID), BacklogSensor)
    extract = dag.get_task("extract")
    assert extract.upstream_task_ids == {WAIT_TASK_ID}
    assert dag.get_task(ADVANCE_TASK_ID).upstream_task_ids == {"extract", "finalize"}  # run id, and after finalize
    assert dag.get_task("compensate").trigger_rule == "one_failed"
    for task in dag.tasks:  # what the DAG integrity tests ask of every shipped DAG
        assert task.retries >= 1 and task.retry_exponential_backoff and task.owner == "data-engineering"
        assert task.pool in {"default_pool", "gaussdb_load", "gaussdb_extract"}


def _cron_dag():
    return build_dag(parse_spec(spec_with(schedule="0 0 * * *", chunk_target_seconds=KeyError,
                                          chunk_rows_min=KeyError, chunk_rows_max=KeyError)))


def test_cron_dags_keep_their_shape():
    dag = _cron_dag()
    assert [t.task_id for t in dag.roots] == ["extract"]
    assert dag.get_task("extract").interval is None
    assert "adaptive" not in dag.tags


def test_the_adaptive_dag_is_the_batch_dag_plus_a_sensor_first_and_the_watermark_before_the_end():
    from gaussdb_batch.dag_factory import ADVANCE_TASK_ID, WAIT_TASK_ID

    dag = build_dag(parse_spec(ADAPTIVE))
    assert {t.task_id for t in dag.tasks} == {t.task_id for t in _cron_dag().tasks} | {WAIT_TASK_ID, ADVANCE_TASK_ID}
    assert ADVANCE_TASK_ID in dag.get_task("done").upstream_task_ids


def _trigger():
    from gaussdb_batch.triggers.backlog import BacklogTrigger

    return BacklogTrigger(conn_id="src", table="app.events", column="created_at",
                          watermark="2024-01-01T00:00:00+00:00", period=2.5, batch="events",
                          polls=[[3.0, 3.01, 0]])


def test_trigger_serializes_to_a_class_path_and_kwargs_that_rebuild_it():
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize, serialize

    classpath, kwargs = _trigger().serialize()
    assert classpath == "gaussdb_batch.triggers.backlog.BacklogTrigger"
    # The triggerer stores kwargs with serde and rebuilds the trigger from them.
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
