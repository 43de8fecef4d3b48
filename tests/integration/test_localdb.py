"""scripts/localdb.sh keeps its port across stop/start, even with the old connections in TIME_WAIT."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import socket
import time

ROOT = Path(__file__).resolve().parents[2]


def _localdb(base: Path, *args: str) -> None:
    env = dict(os.environ, GAUSSDB_BATCH_LOCAL_DIR=str(base))
    subprocess.run([str(ROOT / "scripts" / "localdb.sh"), *args], check=True, env=env, timeout=180,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_restarted_cluster_keeps_its_port(tmp_path):
    base = tmp_path / "pg"
    try:
        _localdb(base, "start")
        port = (base / "port").read_text().strip()
        # A connection the server closes first (at stop) leaves the server's port in TIME_WAIT
        # once the client closes its end without writing (a write would reset it instead).
        conn = socket.create_connection(("127.0.0.1", int(port)))
        _localdb(base, "stop")
        time.sleep(0.2)
        conn.close()
        time.sleep(0.2)
        _localdb(base, "start")
        assert (base / "port").read_text().strip() == port
        assert f"GAUSSDB_BATCH_PG_PORT={port}" in (base / "env").read_text()
    finally:
        _localdb(base, "stop")
        spill = Path("/var/tmp") / f"gaussdb_batch_pg_{hashlib.md5(str(base).encode()).hexdigest()[:12]}"
        shutil.rmtree(spill, ignore_errors=True)
