"""docker-compose.yaml is a valid compose file with the production-like stack."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"


def _compose_cmd() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    exe = shutil.which("docker-compose")
    assert exe, "no compose implementation: run scripts/install_test_tools.sh"
    return [exe]


def test_compose_config_is_valid():
    proc = subprocess.run([*_compose_cmd(), "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_compose_has_the_whole_stack():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("postgres", "redis", "opengauss", "airflow-init", "airflow-apiserver", "airflow-scheduler",
                 "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "statsd-exporter",
                 "prometheus", "grafana"):
        assert name in services, name
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__METRICS__STATSD_PORT"] == "9125"
    assert "GS_PASSWORD" in services["opengauss"]["environment"]
    for mount in services["statsd-exporter"]["volumes"] + services["prometheus"]["volumes"]:
        assert (ROOT / mount.split(":")[0]).exists(), mount
