"""Prometheus config, alert rules and their unit tests, checked by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[2] / "include" / "monitoring"
INSTALL_HINT = "promtool is missing: run scripts/install_monitoring_tools.sh (Debian package 'prometheus')"


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail(INSTALL_HINT)
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{' '.join(result.args)}\n{result.stdout}\n{result.stderr}"


def test_prometheus_config_is_valid_and_loads_the_rules():
    result = promtool("check", "config", "prometheus.yml")
    _ok(result)
    assert "1 rule files found" in result.stdout + result.stderr
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert "statsd-exporter:9102" in targets


def test_alert_rules_are_valid():
    _ok(promtool("check", "rules", "alerts.yml"))


def test_alert_rule_unit_tests_pass():
    _ok(promtool("test", "rules", "alerts_test.yml"))


def test_alert_unit_tests_fail_when_a_rule_breaks(tmp_path):
    """Guards the guard: weaken one rule and its promtool test must notice."""
    rules = (MONITORING / "alerts.yml").read_text()
    broken = rules.replace("airflow_pool_starving_tasks > 0", "airflow_pool_starving_tasks > 100")
    assert broken != rules
    (tmp_path / "alerts.yml").write_text(broken)
    shutil.copy(MONITORING / "alerts_test.yml", tmp_path / "alerts_test.yml")
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "AirflowPoolStarving" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case():
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())
    fires: set[str] = set()
    quiet: set[str] = set()
    for test in cases["tests"]:
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert alerts - fires == set(), "alerts without a firing test case"
    assert alerts - quiet == set(), "alerts without a quiet test case"
