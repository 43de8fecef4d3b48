"""statsd_mapping.yml turns the lines Airflow really sends into the series alerts and dashboards query."""

from __future__ import annotations

import re
import sys

import pytest

from airflow.sdk.observability import stats
from airflow.sdk.observability.metrics import stats_utils

from gaussdb_batch import metrics
from statsd_model import Mapper, RecordingStatsClient

STATS_IMPL = sys.modules[stats.incr.__module__]
PROM_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
PROM_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


@pytest.fixture
def sent(monkeypatch):
    """Airflow's real StatsD logger, as the task runner builds it, recording instead of sending."""
    monkeypatch.setattr(STATS_IMPL, "_factory", None)
    monkeypatch.setattr(STATS_IMPL, "_backend", None)
    monkeypatch.setattr(metrics, "_initialized_in_pid", None)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_CUSTOM_CLIENT_PATH", "statsd_model.RecordingStatsClient")
    monkeypatch.setenv("AIRFLOW__METRICS__LEGACY_NAMES_ON", "True")
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
    RecordingStatsClient.lines.clear()
    return RecordingStatsClient.lines


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return Mapper()


BATCH_CALLS = {
    "rows_extracted": lambda b: metrics.rows_extracted(b, 10),
    "rows_loaded": lambda b: metrics.rows_loaded(b, 10),
    "rows_rejected": lambda b: metrics.rows_rejected(b, 1),
    "chunk_duration": lambda b: metrics.chunk_duration(b, 2.5),
    "chunks_retried": lambda b: metrics.chunk_retried(b),
    "check_mismatches": lambda b: metrics.check_mismatches(b, 1),
    "compensations": lambda b: metrics.compensation(b),
    "backlog_rows": lambda b: metrics.backlog(b, 7),
    "lag_seconds": lambda b: metrics.lag_seconds(b, 60),
    "schedule_interval_seconds": lambda b: metrics.schedule_interval(b, 3600),
    "last_success_timestamp": lambda b: metrics.run_finished(b, "done"),
    "run_finished.{status}": lambda b: metrics.run_finished(b, "Compensated"),
    "reconcile_differences.{kind}": lambda b: metrics.reconcile_finished(b, {"changed": 3}, seconds=2.5, ranges=4),
    "reconcile_duration": lambda b: metrics.reconcile_finished(b, {}, seconds=2.5, ranges=4),
    "reconcile_ranges": lambda b: metrics.reconcile_finished(b, {}, seconds=2.5, ranges=4),
}


@pytest.mark.parametrize("spec", metrics.METRICS, ids=lambda s: s.suffix)
def test_every_batch_metric_maps_to_its_documented_series(sent, mapper, spec):
    BATCH_CALLS[spec.suffix]("Orders-Daily")
    samples = [mapper.map_line(line) for line in sent]
    wanted = [s for s in samples if s is not None and s.name == spec.prometheus_name]
    assert wanted, f"{spec.suffix}: {sent} mapped to {samples}, none named {spec.prometheus_name}"
    sample = wanted[0]
    expected_labels = {"batch": "orders_daily"}
    if "{status}" in spec.suffix:
        expected_labels["status"] = "compensated"
    if "{kind}" in spec.suffix:
        expected_labels["kind"] = "changed"
    assert sample.labels == expected_labels
    assert sample.mapped
    kind = {"timer": "histogram"}.get(spec.statsd_type, spec.statsd_type)
    assert sample.kind == kind
    if spec.suffix in ("chunk_duration", "reconcile_duration"):
        assert sample.value == pytest.approx(2.5)  # ms on the wire, seconds in Prometheus


def test_every_batch_metric_has_a_call_here():
    assert set(BATCH_CALLS) == {spec.suffix for spec in metrics.METRICS}


# Airflow's own metrics, emitted through the same stats facade with the tags Airflow passes
# (task_runner.py, scheduler_job_runner.py, dagrun.py); legacy_names_on puts them in the name.
AIRFLOW_CALLS = [
    (lambda: stats.incr("ti.finish", tags={"dag_id": "orders_daily", "task_id": "load.lane", "state": "failed"}),
     "airflow_ti_finish_total", {"dag_id": "orders_daily", "task_id": "load__lane", "state": "failed"}),
    (lambda: stats.incr("ti.start", tags={"dag_id": "orders_daily", "task_id": "extract"}),
     "airflow_ti_start_total", {"dag_id": "orders_daily", "task_id": "extract"}),
    (lambda: stats.timing("task.duration", 1500.0, tags={"dag_id": "orders_daily", "task_id": "extract"}),
     "airflow_task_duration_seconds", {"dag_id": "orders_daily", "task_id": "extract"}),
    (lambda: stats.timing("task.queued_duration", 10.0, tags={"dag_id": "orders_daily", "task_id": "extract"}),
     "airflow_task_queued_duration_seconds", {"dag_id": "orders_daily", "task_id": "extract"}),
    (lambda: stats.timing("task.scheduled_duration", 10.0, tags={"dag_id": "orders_daily", "task_id": "extract"}),
     "airflow_task_scheduled_duration_seconds", {"dag_id": "orders_daily", "task_id": "extract"}),
    (lambda: stats.timing("dagrun.duration.success", 60000.0, tags={"dag_id": "orders_daily"}),
     "airflow_dagrun_duration_seconds", {"dag_id": "orders_daily", "state": "success"}),
    (lambda: stats.timing("dagrun.duration.failed", 60000.0, tags={"dag_id": "orders_daily"}),
     "airflow_dagrun_duration_seconds", {"dag_id": "orders_daily", "state": "failed"}),
    (lambda: stats.timing("dagrun.schedule_delay", 500.0, tags={"dag_id": "orders_daily"}),
     "airflow_dagrun_schedule_delay_seconds", {"dag_id": "orders_daily"}),
    (lambda: stats.timing("dagrun.first_task_scheduling_delay", 500.0, tags={"dag_id": "orders_daily"}),
     "airflow_dagrun_first_task_scheduling_delay_seconds", {"dag_id": "orders_daily"}),
    *[
        (lambda g=gauge: stats.gauge(f"pool.{g}", 3, tags={"pool_name": "gaussdb_load"}),
         f"airflow_pool_{gauge}", {"pool": "gaussdb_load"})
        for gauge in ("open_slots", "queued_slots", "running_slots", "deferred_slots",
                      "scheduled_slots", "starving_tasks")
    ],
    (lambda: stats.incr("ti_failures", tags={"dag_id": "orders_daily", "task_id": "x"}),
     "airflow_ti_failures_total", {}),
    (lambda: stats.incr("ti_successes", tags={"dag_id": "orders_daily", "task_id": "x"}),
     "airflow_ti_successes_total", {}),
    (lambda: stats.incr("scheduler_heartbeat", 1, 1), "airflow_scheduler_heartbeat_total", {}),
]


@pytest.mark.parametrize(("call", "name", "labels"), AIRFLOW_CALLS, ids=[c[1] + str(i) for i, c in enumerate(AIRFLOW_CALLS)])
def test_airflow_metrics_map_to_labelled_series(sent, mapper, call, name, labels):
    call()
    samples = [mapper.map_line(line) for line in sent]
    kept = [s for s in samples if s is not None]
    # The dimensionless twin of a legacy name is dropped, so exactly one series remains.
    assert [(s.name, s.labels) for s in kept] == [(name, labels)], f"{sent} -> {samples}"


def test_mapping_rules_are_well_formed(mapper):
    shapes: dict[str, set[str]] = {}
    for rule in mapper.rules:
        assert rule["match"].startswith("airflow."), rule
        if rule.get("action") == "drop":
            continue
        name = rule["name"]
        assert PROM_NAME.match(name), name
        labels = set(rule.get("labels") or {})
        assert all(PROM_LABEL.match(label) for label in labels), rule
        wildcards = rule["match"].count("*")
        used = {int(n) for v in (rule.get("labels") or {}).values() for n in re.findall(r"\$\{?(\d+)", str(v))}
        assert used == set(range(1, wildcards + 1)), f"{rule['match']}: every wildcard must land in a label"
        # statsd-exporter refuses a name seen with two different label sets.
        assert shapes.setdefault(name, labels) == labels, f"{name} has two label sets"


def test_no_earlier_rule_shadows_a_later_one(mapper):
    """First match wins: a broad rule above a narrow one would silently swallow it."""
    for i, rule in enumerate(mapper.rules):
        example = rule["match"].replace("*", "x")
        first, _ = mapper.rule_for(example, "c")
        assert first is rule, f"{rule['match']} is shadowed by {first['match']}"
