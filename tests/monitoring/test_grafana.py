"""The Grafana provisioning and dashboard only query series the statsd mapping produces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from gaussdb_batch import metrics
from statsd_model import Mapper, series_names

MONITORING = Path(__file__).resolve().parents[2] / "include" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "gaussdb_batch.json"
METRIC_TOKEN = re.compile(r"\b(?:gaussdb_batch|airflow)_[a-z0-9_]+\b")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')

# One StatsD line of each kind the stack sees, as Airflow sends them (prefix "airflow").
SAMPLE_LINES = [
    *(
        f"airflow.{metrics.metric_name('b', spec.suffix.replace('{status}', 'done'))}:1|"
        + {"counter": "c", "gauge": "g", "timer": "ms"}[spec.statsd_type]
        for spec in metrics.METRICS
    ),
    "airflow.ti.start.d.t:1|c",
    "airflow.ti.finish.d.t.failed:1|c",
    "airflow.dag.d.t.duration:1|ms",
    "airflow.dag.d.t.queued_duration:1|ms",
    "airflow.dag.d.t.scheduled_duration:1|ms",
    "airflow.dagrun.duration.success.d:1|ms",
    "airflow.dagrun.schedule_delay.d:1|ms",
    "airflow.dagrun.d.first_task_scheduling_delay:1|ms",
    *(f"airflow.pool.{g}.p:1|g" for g in ("open_slots", "queued_slots", "running_slots",
                                         "deferred_slots", "scheduled_slots", "starving_tasks")),
    "airflow.ti_failures:1|c",
    "airflow.ti_successes:1|c",
    "airflow.scheduler_heartbeat:1|c",
]


@pytest.fixture(scope="module")
def produced() -> set[str]:
    mapper = Mapper()
    names: set[str] = set()
    for line in SAMPLE_LINES:
        sample = mapper.map_line(line)
        assert sample is not None and sample.mapped, line
        names |= series_names(sample)
    return names


def metric_names(expr: str) -> set[str]:
    return set(METRIC_TOKEN.findall(QUOTED.sub('""', expr)))


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


def test_dashboard_is_provisionable_json():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dash["panels"]:
        if panel["type"] == "row":  # a row only groups the panels below it
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] == "prometheus"
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("rows loaded per second", "chunk duration p95", "rejected", "failed", "pool"):
        assert topic in titles, f"dashboard lacks a {topic} panel"


@pytest.mark.parametrize(("title", "expr"), dashboard_exprs(), ids=lambda v: v[:40] if isinstance(v, str) else v)
def test_dashboard_queries_only_mapped_series(produced, title, expr):
    used = metric_names(expr)
    assert used, f"{title}: no metric in {expr}"
    assert used <= produced, f"{title}: {sorted(used - produced)} is produced by no mapping rule"


def test_alert_rules_query_only_mapped_series(produced):
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            used = metric_names(rule["expr"])
            assert used and used <= produced, f"{rule['alert']}: {sorted(used - produced)} is mapped nowhere"


def test_provisioning_points_at_the_mounted_paths():
    ds = yaml.safe_load((MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert (source["type"], source["uid"], source["url"]) == ("prometheus", "prometheus", "http://prometheus:9090")
    boards = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    assert [p["options"]["path"] for p in boards["providers"]] == ["/var/lib/grafana/dashboards"]
    variables = json.loads(DASHBOARD.read_text())["templating"]["list"]
    assert all(v["datasource"]["uid"] == source["uid"] for v in variables)
