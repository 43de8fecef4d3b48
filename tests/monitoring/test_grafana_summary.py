"""The dashboard's summary row: its layout, its thresholds (in step with the alert rules) and its
queries, evaluated by the real promtool on input series with known answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from test_grafana import DASHBOARD, MONITORING
from test_prometheus_config import _ok, promtool

SUMMARY_IDS = (101, 102, 103, 104)


@pytest.fixture(scope="module")
def panels() -> dict[int, dict]:
    return {p["id"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}


def _red(panel: dict) -> float:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return next(s["value"] for s in steps if s["color"] == "red")


def _alert_factor(name: str) -> float:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    expr = next(r["expr"] for g in rules["groups"] for r in g["rules"] if r.get("alert") == name)
    return float(re.search(r"(\d+(?:\.\d+)?) \* gaussdb_batch_schedule_interval_seconds", expr).group(1))


def test_the_summary_row_opens_the_dashboard(panels):
    ordered = sorted(panels.values(), key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    assert ordered[0]["type"] == "row" and ordered[0]["title"] == "Summary"
    summary = [p for p in ordered[1:5]]
    assert [p["id"] for p in summary] == list(SUMMARY_IDS)
    assert all(p["type"] == "stat" and p["gridPos"]["y"] == 1 for p in summary)
    assert sum(p["gridPos"]["w"] for p in summary) == 24
    titles = [p["title"].lower() for p in summary]
    for topic, title in zip(("last success", "rows per run", "rejected", "lag"), titles):
        assert topic in title


def test_no_two_panels_overlap(panels):
    def cells(p: dict) -> set[tuple[int, int]]:
        g = p["gridPos"]
        return {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}

    seen: dict[tuple[int, int], str] = {}
    for p in panels.values():
        for cell in cells(p):
            assert cell not in seen, f"{p['title']!r} overlaps {seen[cell]!r} at {cell}"
            seen[cell] = p["title"]


def test_thresholds_turn_red_where_the_alerts_fire(panels):
    assert _red(panels[101]) == _alert_factor("GaussDBBatchNoSuccessfulRun")
    assert _red(panels[104]) == _alert_factor("GaussDBBatchLate")
    rejects = panels[103]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in rejects][:2] == [None, 1]  # any reject leaves green, as the alert does
    assert _red(panels[102]) is None and panels[102]["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 1


def test_summary_queries_give_the_expected_values(panels, tmp_path: Path):
    """Two batches over one hour of samples, evaluated at t = 60 min (time() = 3600)."""
    expr = {pid: panels[pid]["targets"][0]["expr"].replace("$batch", ".*") for pid in SUMMARY_IDS}
    cases = [
        (101, {"orders": 3.0, "users": 0.5}),   # (3600 - 0) / 1200 and (3600 - 3000) / 1200
        (102, {"orders": 500.0}),               # 500 rows per done run; users had no done run
        (103, {"orders": 120.0, "users": 0.0}),  # 2 rejects a minute for an hour
        (104, {"orders": 2.0, "users": 0.25}),
    ]
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": 'gaussdb_batch_last_success_timestamp_seconds{batch="orders"}', "values": "0x60"},
                {"series": 'gaussdb_batch_last_success_timestamp_seconds{batch="users"}', "values": "3000x60"},
                {"series": 'gaussdb_batch_schedule_interval_seconds{batch="orders"}', "values": "1200x60"},
                {"series": 'gaussdb_batch_schedule_interval_seconds{batch="users"}', "values": "1200x60"},
                {"series": 'gaussdb_batch_rows_loaded_total{batch="orders"}', "values": "0+500x60"},
                {"series": 'gaussdb_batch_runs_finished_total{batch="orders", status="done"}', "values": "0+1x60"},
                {"series": 'gaussdb_batch_rows_loaded_total{batch="users"}', "values": "0x60"},
                {"series": 'gaussdb_batch_runs_finished_total{batch="users", status="compensated"}',
                 "values": "0+1x60"},
                {"series": 'gaussdb_batch_rows_rejected_total{batch="orders"}', "values": "0+2x60"},
                {"series": 'gaussdb_batch_rows_rejected_total{batch="users"}', "values": "0x60"},
                {"series": 'gaussdb_batch_lag_seconds{batch="orders"}', "values": "2400x60"},
                {"series": 'gaussdb_batch_lag_seconds{batch="users"}', "values": "300x60"},
            ],
            "promql_expr_test": [
                {"expr": expr[pid], "eval_time": "60m",
                 "exp_samples": [{"labels": f'{{batch="{batch}"}}', "value": value} for batch, value in want.items()]}
                for pid, want in cases
            ],
        }],
    }
    path = tmp_path / "summary_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    _ok(promtool("test", "rules", str(path), cwd=tmp_path))
