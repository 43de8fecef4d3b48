"""`make airflow` (scripts/airflow_standalone.sh): the port is checked first, parallelism fits the machine."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "airflow_standalone.sh"


def _run(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def test_a_taken_port_stops_it_before_anything_starts_and_says_how_to_change_it():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = _run(AIRFLOW_PORT=str(port))
    assert res.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in res.stderr
    assert "AIRFLOW_PORT=8081 make airflow" in res.stderr
    assert "Airflow UI" not in res.stdout + res.stderr and "airflow db migrate" not in res.stdout


def test_parallelism_is_sized_by_the_cpus_not_airflows_32():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    res = _run(AIRFLOW_PORT=str(port), AIRFLOW_STANDALONE_DRY_RUN="1")
    assert res.returncode == 0, res.stderr
    settings = dict(line.split("=", 1) for line in res.stdout.split())
    assert settings["AIRFLOW__API__PORT"] == str(port)
    assert int(settings["AIRFLOW__CORE__PARALLELISM"]) == max(4, 2 * len(os.sched_getaffinity(0)))
    assert _run(AIRFLOW_PORT=str(port), AIRFLOW_STANDALONE_DRY_RUN="1", AIRFLOW_PARALLELISM="3").stdout.count(
        "AIRFLOW__CORE__PARALLELISM=3") == 1


def test_the_execution_api_and_the_log_servers_follow_the_port():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    port = min(port, 60000)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__API__", "AIRFLOW__CORE__EXECUTION",
                                                                     "AIRFLOW__LOGGING__"))}
    res = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**env, "AIRFLOW_PORT": str(port), "AIRFLOW_STANDALONE_DRY_RUN": "1"})
    assert res.returncode == 0, res.stderr
    settings = dict(line.split("=", 1) for line in res.stdout.split())
    assert settings["AIRFLOW__API__BASE_URL"] == f"http://127.0.0.1:{port}"
    assert settings["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://127.0.0.1:{port}/execution/"
    assert settings["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == str(port + 713)
    assert settings["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] == str(port + 714)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_taken_log_server_port_stops_it_before_anything_starts():
    for _ in range(50):  # a busy port whose API port (713 below) is free: the log port is what stops it
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            log_port = busy.getsockname()[1]
            if not _free(log_port - 713):
                continue
            res = _run(AIRFLOW_PORT=str(log_port - 713), AIRFLOW_STANDALONE_DRY_RUN="1")
        break
    assert res.returncode == 1 and f"port {log_port} on 127.0.0.1 is already in use" in res.stderr
