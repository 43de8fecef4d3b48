"""Real Airflow for the end-to-end tests: metadata database, api-server, scheduler,
dag-processor and triggerer (LocalExecutor), and on demand Redis with two Celery workers.

Everything binds 127.0.0.1 on free ports and lives in its own databases (gbe2e_source,
gbe2e_target, gbe2e_meta, recreated per test session) and its own AIRFLOW_HOME
(.local/airflow-e2e), so it never touches the demo or the other tests. The services start
once per session; every process started here is stopped at the end, also on failure.

The batch under test is ``e2e_orders``: TPC-H orders (scale 0.01) by calendar quarter,
4 lanes in pool ``e2e_load`` (2 slots), 25-row chunks, read from gbe2e_source and upserted
into gbe2e_target through copies of the project's own per-batch DAG file (dags/tpch_orders.py,
which reads the spec named like itself) with GAUSSDB_BATCH_INCLUDE pointing at specs written here. The target table has a trigger that
sleeps per inserted row, so a chunk transaction lasts about a quarter of a second: long
enough to observe lanes overlapping and to kill a worker inside a load.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import pytest
import requests

from tests.conftest import ROOT, _dsn

E2E_HOME = ROOT / ".local" / "airflow-e2e"
SOURCE_DB, TARGET_DB, META_DB = "gbe2e_source", "gbe2e_target", "gbe2e_meta"
DAG_ID = "e2e_orders"
LOAD_POOL, EXTRACT_POOL, LOAD_POOL_SLOTS = "e2e_load", "e2e_extract", 2
TPCH_SCALE = 0.01
ROW_SLEEP_SECONDS = 0.01
ADMIN_PASSWORD = "e2e-admin-" + secrets.token_hex(4)
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

SPEC = f"""\
# End-to-end test batch: TPC-H orders by calendar quarter into a deliberately slow target.
name: {DAG_ID}
description: TPC-H orders by quarter, 4 lanes in a 2-slot pool (end-to-end tests)
schedule: "0 0 1 */3 *"
timezone: UTC
start_date: 1992-01-01
catchup: false
tags: [e2e, tpch]
source: {{conn_id: e2e_source, table: tpch.orders, interval_column: o_orderdate}}
target: {{conn_id: e2e_target, table: tpch.orders}}
keys: [o_orderkey]
mode: upsert
chunk_rows: 25
lanes: 4
pool: {LOAD_POOL}
extract_pool: {EXTRACT_POOL}
max_rejects: 0
retries: 3
retry_delay_seconds: 2
retry_exponential_backoff: 1
max_retry_delay_seconds: 5
checks:
  not_null: [o_custkey, o_orderdate]
  ranges:
    o_totalprice: {{min: 0}}
"""

# The same batch in append mode into a table without any key constraint (a plain index on the
# key, which every target needs): a chunk written twice would show as duplicate rows (the crash test of the Celery workers uses it).
APPEND_DAG_ID = "e2e_orders_append"
APPEND_SPEC = SPEC.replace(f"name: {DAG_ID}", f"name: {APPEND_DAG_ID}").replace(
    "target: {conn_id: e2e_target, table: tpch.orders}", "target: {conn_id: e2e_target, table: e2e.orders_append}").replace("mode: upsert", "mode: append").replace(
    "description: TPC-H orders by quarter,", "description: TPC-H orders appended by quarter,")

# A slow target: every inserted or updated row of tpch.orders sleeps inside the chunk's
# transaction (the engine's own code is untouched; only the target database is slow).
SLOW_TARGET_SQL = f"""
CREATE OR REPLACE FUNCTION tpch.e2e_slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep({ROW_SLEEP_SECONDS});
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS e2e_slow_row ON tpch.orders;
CREATE TRIGGER e2e_slow_row BEFORE INSERT ON tpch.orders
  FOR EACH ROW EXECUTE FUNCTION tpch.e2e_slow_row();
CREATE SCHEMA IF NOT EXISTS e2e;
CREATE TABLE IF NOT EXISTS e2e.orders_append (LIKE tpch.orders);
CREATE INDEX IF NOT EXISTS orders_append_key ON e2e.orders_append (o_orderkey);  -- not unique
DROP TRIGGER IF EXISTS e2e_slow_row ON e2e.orders_append;
CREATE TRIGGER e2e_slow_row BEFORE INSERT ON e2e.orders_append
  FOR EACH ROW EXECUTE FUNCTION tpch.e2e_slow_row();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, probe: Callable[[], Any], *, timeout: float, interval: float = 1.0,
               diagnose: Callable[[], str] | None = None) -> Any:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (requests.RequestException, psycopg2.Error) as exc:
            last_exc = exc
        time.sleep(interval)
    extra = f"\nlast error: {last_exc!r}" if last_exc else ""
    if diagnose is not None:
        extra += "\n" + diagnose()
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")


# ---------------------------------------------------------------------------------------
# Processes


class Services:
    """Background processes, each in its own session so its whole tree can be signalled."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        assert name not in self.procs or self.procs[name].poll() is not None, f"{name} is already running"
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(ROOT), start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def tree(self, name: str) -> list[psutil.Process]:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return []
        try:
            root = psutil.Process(proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def pids(self, name: str) -> set[int]:
        return {p.pid for p in self.tree(name)}

    def kill(self, name: str) -> None:
        """SIGKILL the process and every descendant at once: a machine that vanished."""
        for p in self.tree(name):
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.wait(timeout=30)

    def stop(self, name: str, timeout: float = 30) -> None:
        """SIGTERM, wait, then SIGKILL whatever of the tree is left."""
        proc = self.procs.get(name)
        if proc is None:
            return
        tree = self.tree(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        for p in tree:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            proc.wait(timeout=10)
        self.procs.pop(name, None)

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name, timeout=20)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logdir / f"{name}.log"
        if not path.exists():
            return f"(no log for {name})"
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {name} (last {len(text)} lines) ---\n" + "\n".join(text)


# ---------------------------------------------------------------------------------------
# The REST API (v2)


class Api:
    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base.rstrip("/")
        self.username, self.password = username, password
        self.http = requests.Session()

    def login(self) -> str:
        r = requests.post(f"{self.base}/auth/token", json={"username": self.username, "password": self.password},
                          timeout=30)
        assert r.status_code in (200, 201), f"POST /auth/token: {r.status_code} {r.text[:300]}"
        token = r.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"
        return token

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        r = self.http.request(method, f"{self.base}/api/v2{path}", timeout=60, **kw)
        if r.status_code == 401:
            self.login()
            r = self.http.request(method, f"{self.base}/api/v2{path}", timeout=60, **kw)
        return r

    def get(self, path: str, **params: Any) -> Any:
        r = self.request("GET", path, params=params or None)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:500]}"
        return r.json()

    def post(self, path: str, body: dict) -> Any:
        r = self.request("POST", path, json=body)
        assert r.status_code in (200, 201), f"POST {path}: {r.status_code} {r.text[:500]}"
        return r.json()

    def patch(self, path: str, body: dict, **params: Any) -> Any:
        r = self.request("PATCH", path, json=body, params=params or None)
        assert r.status_code == 200, f"PATCH {path}: {r.status_code} {r.text[:500]}"
        return r.json()

    # conveniences

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None,
                run_id: str | None = None, interval: tuple[dt.date, dt.date] | None = None) -> str:
        """POST a DAG run; ``interval`` is its data interval, as the trigger form sets it."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if interval is not None:
            start, end = (dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).isoformat() for d in interval)
            # The logical date only has to be unique per DAG (two runs may load the same interval);
            # the explicit data interval is what the run loads.
            body.update(logical_date=logical_date or dt.datetime.now(dt.timezone.utc).isoformat(),
                        data_interval_start=start, data_interval_end=end)
        if run_id:
            body["dag_run_id"] = run_id
        return self.post(f"/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/dags/{dag_id}/dagRuns/{requests.utils.quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        rid = requests.utils.quote(run_id, safe="")
        return self.get(f"/dags/{dag_id}/dagRuns/{rid}/taskInstances", limit=100)["task_instances"]

    def task_tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
        rid = requests.utils.quote(run_id, safe="")
        return self.get(f"/dags/{dag_id}/dagRuns/{rid}/taskInstances/{task_id}/{map_index}/tries")["task_instances"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns", limit=100, order_by="id")["dag_runs"]


# ---------------------------------------------------------------------------------------
# The stack


class Stack:
    """The running Airflow of the e2e tests; ``executor`` switches between Local and Celery."""

    def __init__(self, pg_env: dict[str, str]) -> None:
        self.pg_env = pg_env
        self.home = E2E_HOME
        self.logdir = self.home / "service-logs"
        self.services = Services(self.logdir)
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.api = Api(self.base_url, "admin", ADMIN_PASSWORD)
        self.executor = "LocalExecutor"
        self.redis_port: int | None = None
        self.include = self.home / "include"
        self.dags = self.home / "dags"
        self.source_dsn = _dsn(pg_env, SOURCE_DB)
        self.target_dsn = _dsn(pg_env, TARGET_DB)
        pg = pg_env
        self.meta_url = (f"postgresql+psycopg2://{pg['GAUSSDB_BATCH_PG_USER']}:{pg['GAUSSDB_BATCH_PG_PASSWORD']}"
                         f"@127.0.0.1:{pg['GAUSSDB_BATCH_PG_PORT']}/{META_DB}")
        self.jwt_secret = secrets.token_urlsafe(32)

    # environment shared by every Airflow process of the stack
    def env(self, **overrides: str) -> dict[str, str]:
        from tests.conftest import conn_json

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW", "GAUSSDB_BATCH_E2E", "PYTEST"))}
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "scripts" / "e2e"), str(ROOT / "plugins")]),
            "GAUSSDB_BATCH_INCLUDE": str(self.include),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": "16",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "e2e_hostname.hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.meta_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__EXPOSE_CONFIG": "False",
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            # The scheduler must not start the current interval by itself: only the runs the
            # tests trigger or backfill exist (catchup is off anyway).
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # A task whose worker vanished is failed (and retried) after 20 s, not 5 min.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.meta_url.replace("+psycopg2", ""),
            "AIRFLOW_CONN_E2E_SOURCE": conn_json(self.pg_env, SOURCE_DB, {"driver": "psycopg2"}),
            "AIRFLOW_CONN_E2E_TARGET": conn_json(
                self.pg_env, TARGET_DB,
                {"driver": "psycopg2", "statement_timeout": "5min", "idle_in_transaction_timeout": "60s"}),
        })
        if self.redis_port:
            env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        env.update(overrides)
        return env

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run an airflow CLI command against the stack; fail with its output."""
        res = subprocess.run([AIRFLOW, *args], env=self.env(), cwd=str(ROOT), capture_output=True, text=True,
                             timeout=timeout)
        assert res.returncode == 0, f"airflow {' '.join(args)} exited {res.returncode}:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        return res

    def diagnose(self) -> str:
        return "\n".join(self.services.tail(n) for n in list(self.services.procs))

    # --- lifecycle

    def prepare(self) -> None:
        if self.home.exists():
            shutil.rmtree(self.home)
        (self.include / "batches").mkdir(parents=True)
        self.logdir.mkdir(parents=True)
        self.dags.mkdir(parents=True)
        for name, text in ((DAG_ID, SPEC), (APPEND_DAG_ID, APPEND_SPEC)):
            self.add_batch(name, text)
        (self.home / "passwords.json").write_text(json.dumps({"admin": ADMIN_PASSWORD}) + "\n")
        self._databases()
        self._metadata_database()

    def add_batch(self, name: str, spec_text: str) -> Path:
        """A batch as a user adds one: its spec under include/batches and its thin DAG file."""
        (self.include / "batches" / f"{name}.yaml").write_text(spec_text)
        dag_file = self.dags / f"{name}.py"
        shutil.copyfile(ROOT / "dags" / "tpch_orders.py", dag_file)
        return dag_file

    def _databases(self) -> None:
        admin = psycopg2.connect(_dsn(self.pg_env, "postgres", superuser=True))
        admin.autocommit = True
        user = self.pg_env["GAUSSDB_BATCH_PG_USER"]
        with admin.cursor() as cur:
            for db in (SOURCE_DB, TARGET_DB):
                cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{db}" OWNER "{user}"')
        admin.close()
        sys.path.insert(0, str(ROOT / "scripts"))
        import demo_data

        saved = {k: os.environ.get(k) for k in self.pg_env}
        os.environ.update(self.pg_env)
        try:
            demo_data.load(TPCH_SCALE, target_db=TARGET_DB, source_db=SOURCE_DB)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        with psycopg2.connect(self.target_dsn) as conn, conn.cursor() as cur:
            cur.execute(SLOW_TARGET_SQL)
        conn.close()

    def _metadata_database(self) -> None:
        """A fresh metadata DB, cloned from a template migrated once per Airflow version."""
        import airflow

        template, stamp = f"{META_DB}_template", f"migrated by airflow {airflow.__version__}"
        admin = psycopg2.connect(_dsn(self.pg_env, "postgres", superuser=True))
        admin.autocommit = True
        user = self.pg_env["GAUSSDB_BATCH_PG_USER"]
        with admin.cursor() as cur:
            cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                        (template,))
            row = cur.fetchone()
            if row is None or row[0] != stamp:
                cur.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                cur.execute(f'DROP DATABASE IF EXISTS "{META_DB}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{META_DB}" OWNER "{user}"')
                self.airflow("db", "migrate", timeout=600)
                cur.execute(f'ALTER DATABASE "{META_DB}" RENAME TO "{template}"')
                cur.execute(f"COMMENT ON DATABASE \"{template}\" IS %s", (stamp,))
            cur.execute(f'DROP DATABASE IF EXISTS "{META_DB}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{META_DB}" OWNER "{user}" TEMPLATE "{template}"')
        admin.close()

    def start(self) -> None:
        s = self.services
        s.start("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port),
                               "--workers", "1"], self.env())
        wait_until("the api-server to answer", self._healthy, timeout=180, interval=1, diagnose=self.diagnose)
        self.api.login()
        s.start("dag-processor", [AIRFLOW, "dag-processor"], self.env())
        s.start("triggerer", [AIRFLOW, "triggerer", "--skip-serve-logs"], self.env())
        self._start_scheduler()
        for name, slots in ((LOAD_POOL, LOAD_POOL_SLOTS), (EXTRACT_POOL, 2)):
            self.api.post("/pools", {"name": name, "slots": slots, "description": "end-to-end tests",
                                     "include_deferred": False})
        for dag_id in (DAG_ID, APPEND_DAG_ID):
            wait_until(f"the dag-processor to parse {dag_id}", lambda d=dag_id: self._dag_parsed(d), timeout=240,
                       interval=2, diagnose=self.diagnose)
            self.api.patch(f"/dags/{dag_id}", {"is_paused": False})
        wait_until("scheduler, dag-processor and triggerer to report healthy", self._components_healthy,
                   timeout=120, interval=2, diagnose=self.diagnose)

    def _healthy(self) -> bool:
        r = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
        return r.status_code == 200

    def _components_healthy(self) -> bool:
        h = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
        return all((h.get(k) or {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "triggerer",
                                                                          "dag_processor"))

    def _dag_parsed(self, dag_id: str) -> bool:
        r = self.api.request("GET", f"/dags/{dag_id}")
        return r.status_code == 200

    def _start_scheduler(self) -> None:
        self.services.start("scheduler", [AIRFLOW, "scheduler", "--skip-serve-logs"], self.env())

    def use_executor(self, executor: str) -> None:
        """Restart the scheduler with another executor (Celery brings Redis and two workers)."""
        if executor == self.executor:
            return
        self.services.stop("scheduler")
        if executor == "CeleryExecutor":
            self.start_celery()
        else:
            for name in ("celery-worker-1", "celery-worker-2", "redis"):
                self.services.stop(name)
        self.executor = executor
        self._start_scheduler()

    def start_celery(self) -> None:
        self.redis_port = free_port()
        redis_dir = self.home / "redis"
        redis_dir.mkdir(exist_ok=True)
        self.services.start("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port),
                                      "--protected-mode", "yes", "--save", "", "--appendonly", "no",
                                      "--dir", str(redis_dir), "--daemonize", "no"], self.env())
        import redis

        wait_until("redis to answer PING", lambda: redis.Redis(port=self.redis_port, host="127.0.0.1").ping(),
                   timeout=30, interval=0.5, diagnose=lambda: self.services.tail("redis"))
        for n in (1, 2):
            self.start_worker(n)

    def worker_name(self, n: int) -> str:
        return f"e2e-worker-{n}"

    def start_worker(self, n: int) -> None:
        name = self.worker_name(n)
        self.executor = "CeleryExecutor"
        self.services.start(
            f"celery-worker-{n}",
            [AIRFLOW, "celery", "worker", "--concurrency", "1", "--celery-hostname", f"{name}@%h",
             "--skip-serve-logs"],
            self.env(GAUSSDB_BATCH_E2E_HOSTNAME=name),
        )

    def celery_workers_ready(self, numbers: list[int]) -> bool:
        """Every worker logged Celery's "ready." line (it is connected to the broker and consuming)."""
        for n in numbers:
            log = self.logdir / f"celery-worker-{n}.log"
            if not (self.services.alive(f"celery-worker-{n}") and log.exists()
                    and f"{self.worker_name(n)}@" in log.read_text(errors="replace")
                    and " ready." in log.read_text(errors="replace")):
                return False
        return True

    # --- runs

    def wait_run(self, dag_id: str, run_id: str, *, timeout: float = 300) -> dict:
        """Wait for a DAG run to finish; return it (its state may be success or failed)."""
        def done() -> dict | None:
            run = self.api.run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        def why() -> str:
            try:
                tis = self.api.task_instances(dag_id, run_id)
                states = ", ".join(f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis)
            except Exception as exc:  # noqa: BLE001 - diagnostics only
                states = repr(exc)
            return f"task instances: {states}\n{self.diagnose()}"

        return wait_until(f"run {run_id} of {dag_id} to finish", done, timeout=timeout, interval=2, diagnose=why)

    def run_batch(self, dag_id: str, start: dt.date, end: dt.date, run_id: str, *, timeout: float = 400) -> str:
        """Trigger a run of [start, end) through the REST API and wait until it succeeded."""
        run_id = self.api.trigger(dag_id, interval=(start, end), run_id=run_id)
        self.assert_success(dag_id, self.wait_run(dag_id, run_id, timeout=timeout))
        return run_id

    def assert_success(self, dag_id: str, run: dict) -> None:
        if run["state"] != "success":
            tis = self.api.task_instances(dag_id, run["dag_run_id"])
            states = ", ".join(f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis)
            raise AssertionError(f"run {run['dag_run_id']} ended {run['state']}: {states}\n{self.diagnose()}")


@pytest.fixture(scope="session")
def stack(pg_env) -> Iterator[Stack]:
    """The running Airflow (LocalExecutor at first); stopped at the end of the session."""
    st = Stack(pg_env)
    atexit.register(st.services.stop_all)
    try:
        st.prepare()
        st.start()
        yield st
    finally:
        st.services.stop_all()


@pytest.fixture
def local_stack(stack: Stack) -> Stack:
    stack.use_executor("LocalExecutor")
    return stack


@pytest.fixture
def celery_stack(stack: Stack) -> Stack:
    stack.use_executor("CeleryExecutor")
    wait_until("both Celery workers to be ready", lambda: stack.celery_workers_ready([1, 2]), timeout=180,
               interval=3, diagnose=stack.diagnose)
    return stack


# ---------------------------------------------------------------------------------------
# Data helpers


def fingerprint(dsn: str, start: dt.date, end: dt.date, table: str = "tpch.orders") -> tuple[int, int, str]:
    """(rows, distinct keys, md5 over the ordered md5s of every row) of an orders table in [start, end)."""
    assert table in ("tpch.orders", "e2e.orders_append"), table
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(DISTINCT o_orderkey),"
            "       coalesce(md5(string_agg(md5(t::text), ',' ORDER BY o_orderkey, md5(t::text))), '')"
            f"  FROM {table} t WHERE o_orderdate >= %s AND o_orderdate < %s",
            (start, end),
        )
        rows, keys, digest = cur.fetchone()
    conn.close()
    return int(rows), int(keys), digest


def query(dsn: str, sql: str, params: Any = None) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows
