"""docs/observability.md names every metric, alert and notifier the code ships."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gaussdb_batch import alerting, metrics

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "observability.md").read_text()
ALERTS = yaml.safe_load((ROOT / "include" / "monitoring" / "alerts.yml").read_text())


@pytest.mark.parametrize("spec", metrics.METRICS, ids=lambda s: s.suffix)
def test_every_metric_is_documented(spec):
    assert spec.prometheus_name in DOC
    assert f"airflow.gaussdb_batch.<batch>.{spec.suffix.replace('{status}', '<status>').replace('{kind}', '<kind>')}" in DOC


@pytest.mark.parametrize("alert", [r["alert"] for g in ALERTS["groups"] for r in g["rules"]])
def test_every_alert_is_documented(alert):
    assert f"`{alert}`" in DOC


@pytest.mark.parametrize("kind", sorted(alerting.NOTIFIER_TYPES))
def test_every_notifier_is_documented(kind):
    assert alerting.NOTIFIER_TYPES[kind].__name__ in DOC
    assert f"`{kind}`" in DOC
