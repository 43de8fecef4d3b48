"""Who sees what on the Batches page, through a real auth manager in a real api-server.

One api-server of this module runs Airflow in multi-team mode with the simple auth manager:
team_a's DAG bundle holds batches ``acc_a`` and ``acc_down`` (whose target cannot be reached),
team_b's holds ``acc_b``; ``acc_broken`` is a spec with a typo and no DAG. Users: admin; alice,
a viewer of team_a; bob, a user of team_a; carol, a user of team_b. The DAGs are written to the
metadata database by ``airflow dags reserialize`` (no scheduler needed) and the runs, rejects and
reconciliation rows are written straight into a control schema shared by both batches
(``gb_access`` in the e2e target database). Every answer is compared with what Airflow's own
REST API answers the same user for the same DAG.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg2
import pytest
import requests

from gaussdb_batch.dialects import get_dialect
from tests.conftest import _dsn
from tests.e2e.conftest import AIRFLOW, E2E_HOME, META_DB, ROOT, TARGET_DB, Services, Stack, free_port, wait_until

pytestmark = pytest.mark.e2e

HOME = E2E_HOME / "access"
ACCESS_META = "gbe2e_access_meta"
SCHEMA = "gb_access"
SECRET = "PRIVATE-7f3a"
USERS = {"admin": "admin", "alice": "viewer:team_a", "bob": "user:team_a", "carol": "user:team_b"}
BATCHES = {"acc_a": "team_a", "acc_down": "team_a", "acc_b": "team_b"}


def _spec(name: str, target_conn: str = "e2e_target") -> str:
    return f"""\
name: {name}
description: batch {name} of the access tests
schedule: null
start_date: 1992-01-01
source: {{conn_id: e2e_source, table: tpch.orders, interval_column: o_orderdate}}
target: {{conn_id: {target_conn}, table: tpch.orders}}
keys: [o_orderkey]
mode: upsert
control_schema: {SCHEMA}
""" + (RECONCILE if name in ("acc_a", "acc_b") else "")


#: acc_a and acc_b have a scheduled reconciliation (a __reconcile DAG in their team's bundle).
RECONCILE = "reconcile: {schedule: '0 3 * * *', scope: table}\n"


@dataclass
class Access:
    base_url: str
    env: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)

    def page(self, user: str, path: str) -> requests.Response:
        return requests.get(f"{self.base_url}/gaussdb-batch/api/{path}", timeout=60,
                            headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def airflow(self, user: str, path: str) -> requests.Response:
        return requests.get(f"{self.base_url}/api/v2/{path}", timeout=60,
                            headers={"Authorization": f"Bearer {self.tokens[user]}"})


def _control_rows(dsn: str) -> dict[str, int]:
    """A control schema shared by acc_a and acc_b, one finished run each with a reject and a comparison."""
    d = get_dialect("postgres")
    runs: dict[str, int] = {}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
        cur.execute(d.schema_version_ddl(SCHEMA))
        for _, _, statements in d.control_migrations(SCHEMA):
            for sql in statements:
                cur.execute(sql)
        for name in ("acc_a", "acc_b"):
            cur.execute(f"INSERT INTO {SCHEMA}.runs (batch, interval_start, interval_end, attempt, status, dag_run_id,"
                        " target_table, mode, rows_extracted, rows_loaded, rows_rejected, chunks_total, finished_at)"
                        " VALUES (%s, '1992-01-01', '1992-04-01', 1, 'DONE', %s, 'tpch.orders', 'upsert', 3, 2, 1, 1,"
                        " now()) RETURNING run_id", (name, f"manual__{name}"))
            run_id = runs[name] = cur.fetchone()[0]
            cur.execute(f"INSERT INTO {SCHEMA}.chunks (run_id, chunk_no, seq_lo, seq_hi, status, rows_in,"
                        " rows_written, rows_rejected) VALUES (%s, 1, 1, 3, 'DONE', 3, 2, 1)", (run_id,))
            cur.execute(f"INSERT INTO {SCHEMA}.rejects (run_id, chunk_no, seq, stage, key_text, row_text, sqlstate,"
                        " message) VALUES (%s, 1, 2, 'load', %s, %s, '22P02', %s), (%s, 1, 3, 'load', '42', %s,"
                        " '23514', %s)",
                        (run_id, f"{SECRET}-{name}", json.dumps({"o_orderkey": f"{SECRET}-{name}", "o_comment": "x"}),
                         f'invalid input syntax for type integer: "{SECRET}-{name}"', run_id,
                         json.dumps({"o_orderkey": 42, "o_clerk": f"Clerk-{SECRET}"}),
                         'new row for relation "orders" violates check constraint "orders_check"'))
            cur.execute(f"INSERT INTO {SCHEMA}.reconciliation (run_id, chunk_no, pass, source_rows, target_rows,"
                        " source_hash, target_hash, status) VALUES (%s, 1, 1, 2, 2, 7, 7, 'MATCH')", (run_id,))
            cur.execute(f"INSERT INTO {SCHEMA}.reconciliations (batch, scope_kind, mode, finished_at, source_rows,"
                        " target_rows, ranges_compared, missing, extra, changed, bytes_fetched, status) VALUES"
                        " (%s, 'table', 'report', now(), 3, 3, 1, 0, 0, 1, 10, 'MISMATCH') RETURNING recon_id", (name,))
            cur.execute(f"INSERT INTO {SCHEMA}.reconciliation_diffs (recon_id, key_text, kind, source_digest,"
                        " target_digest) VALUES (%s, %s, 'changed', 'aa', 'bb')",
                        (cur.fetchone()[0], json.dumps({"o_orderkey": f"{SECRET}-{name}"})))
    conn.close()
    return runs


@pytest.fixture(scope="module")
def access(stack: Stack) -> Iterator[Access]:
    """The multi-team api-server of this module (its own metadata database, cloned from the stack's template)."""
    import shutil

    if HOME.exists():
        shutil.rmtree(HOME)
    include = HOME / "include" / "batches"
    include.mkdir(parents=True)
    bundles = []
    for team in ("team_a", "team_b"):
        folder = HOME / f"dags_{team}"
        folder.mkdir()
        bundles.append({"name": f"dags_{team}", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                        "kwargs": {"path": str(folder), "refresh_interval": 0}, "team_name": team})
    for name, team in BATCHES.items():
        (include / f"{name}.yaml").write_text(_spec(name, "e2e_down" if name == "acc_down" else "e2e_target"))
        shutil.copyfile(ROOT / "dags" / "tpch_orders.py", HOME / f"dags_{team}" / f"{name}.py")
    (include / "acc_broken.yaml").write_text(_spec("acc_broken").replace("keys:", "key:"))
    passwords = {u: f"{u}-{secrets.token_hex(4)}" for u in USERS}
    (HOME / "passwords.json").write_text(json.dumps(passwords))

    pg = stack.pg_env
    admin = psycopg2.connect(_dsn(pg, "postgres", superuser=True))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{ACCESS_META}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{ACCESS_META}" OWNER "{pg["GAUSSDB_BATCH_PG_USER"]}" TEMPLATE '
                    f'"{META_DB}_template"')
    admin.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    down = json.dumps({"conn_type": "gaussdb", "host": "127.0.0.1", "port": free_port(), "login": "nobody",
                       "password": "nothing", "schema": TARGET_DB, "extra": {}})
    env = stack.env(
        AIRFLOW_HOME=str(HOME), GAUSSDB_BATCH_INCLUDE=str(HOME / "include"),
        AIRFLOW__CORE__MULTI_TEAM="True",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=stack.meta_url.replace(f"/{META_DB}", f"/{ACCESS_META}"),
        AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=json.dumps(bundles),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=",".join(f"{u}:{r}" for u, r in USERS.items()),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(HOME / "passwords.json"),
        AIRFLOW__API__PORT=str(port), AIRFLOW__API__BASE_URL=base,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__CORE__TEAM_NAME_CACHE_TTL="0",
        AIRFLOW_CONN_E2E_DOWN=down,
    )
    import subprocess

    for args in (["teams", "create", "team_a"], ["teams", "create", "team_b"], ["dags", "reserialize"]):
        res = subprocess.run([AIRFLOW, *args], env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"airflow {' '.join(args)}:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    (HOME / "logs").mkdir(exist_ok=True)
    services = Services(HOME / "logs")
    try:
        services.start("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port),
                                      "--workers", "1"], env)
        wait_until("the multi-team api-server", lambda: requests.get(f"{base}/api/v2/monitor/health",
                                                                    timeout=5).status_code == 200,
                   timeout=180, interval=1, diagnose=lambda: services.tail("api-server"))
        acc = Access(base, env=env, runs=_control_rows(stack.target_dsn))
        for user, password in passwords.items():
            r = requests.post(f"{base}/auth/token", json={"username": user, "password": password}, timeout=30)
            assert r.status_code in (200, 201), r.text
            acc.tokens[user] = r.json()["access_token"]
        yield acc
    finally:
        services.stop_all()


def _listed(acc: Access, user: str) -> dict[str, dict]:
    r = acc.page(user, "batches")
    assert r.status_code == 200, r.text
    return {b["batch"]: b for b in r.json()["batches"]}


def test_each_user_is_listed_the_batches_airflow_lets_them_read(access: Access):
    acc = access
    dag_ids = {d["dag_id"] for d in acc.airflow("admin", "dags?limit=100").json()["dags"]}
    assert set(BATCHES) <= dag_ids, dag_ids  # the reserialized DAGs, each in its team's bundle
    seen = {}
    for user in USERS:
        readable = {b for b in BATCHES if acc.airflow(user, f"dags/{b}").status_code == 200}
        listed = _listed(acc, user)
        assert set(listed) - {"acc_broken"} == readable, (user, listed.keys(), readable)
        seen[user] = readable
    assert seen["alice"] == seen["bob"] == {"acc_a", "acc_down"} and seen["carol"] == {"acc_b"}
    assert seen["admin"] == set(BATCHES)


@pytest.mark.parametrize("part", ["", "/rejects", "/reconciliation"])
def test_runs_answer_like_airflow_answers_the_dag_runs(access: Access, part: str):
    acc = access
    for user in USERS:
        for batch in ("acc_a", "acc_b"):
            airflow = acc.airflow(user, f"dags/{batch}/dagRuns").status_code
            ours = acc.page(user, f"batches/{batch}/runs/{acc.runs[batch]}{part}").status_code
            assert (ours, airflow) in ((200, 200), (403, 403)), (user, batch, part, ours, airflow)


@pytest.mark.parametrize("part", ["", "/rejects", "/reconciliation"])
def test_a_run_of_another_batch_or_no_run_answers_404(access: Access, part: str):
    acc = access
    for run_id in (acc.runs["acc_b"], 999_999):
        r = acc.page("admin", f"batches/acc_a/runs/{run_id}{part}")
        assert r.status_code == 404, (run_id, r.status_code, r.text)
        assert SECRET not in r.text


def test_row_values_only_for_users_who_may_edit_the_dag(access: Access):
    acc = access
    path = f"batches/acc_a/runs/{acc.runs['acc_a']}/rejects"
    editor = acc.page("bob", path).json()
    assert editor["values_shown"] and editor["total"] == 2
    assert any(SECRET in (x["message"] or "") for x in editor["items"])
    assert any(SECRET in (x["key_text"] or "") for x in editor["items"])
    viewer = acc.page("alice", path)
    assert viewer.status_code == 200 and SECRET not in viewer.text, viewer.text
    items = viewer.json()["items"]
    assert not viewer.json()["values_shown"] and all(x["key_text"] is None and x["row_text"] is None for x in items)
    reasons = [x["message"] for x in items]
    assert reasons[0].startswith("invalid input syntax for type integer: ")
    # Object names are not values: the viewer still reads which constraint refused the row.
    assert reasons[1] == 'new row for relation "orders" violates check constraint "orders_check"'


def test_the_latest_reconciliation_answers_like_the_dag_runs_and_keys_only_to_editors(access: Access):
    acc = access
    for user in USERS:
        for batch in ("acc_a", "acc_b"):
            airflow = acc.airflow(user, f"dags/{batch}/dagRuns").status_code
            ours = acc.page(user, f"batches/{batch}/reconcile").status_code
            assert (ours, airflow) in ((200, 200), (403, 403)), (user, batch, ours, airflow)
    editor = acc.page("bob", "batches/acc_a/reconcile").json()
    assert editor["latest"]["batch"] == "acc_a" and editor["latest"]["differences"]["changed"] == 1
    assert editor["records"]["values_shown"] and editor["records"]["items"][0]["key"] == {"o_orderkey": f"{SECRET}-acc_a"}
    viewer = acc.page("alice", "batches/acc_a/reconcile")
    assert viewer.status_code == 200 and SECRET not in viewer.text, viewer.text
    assert [set(x) for x in viewer.json()["records"]["items"]] == [{"kind", "checked_at"}]
    assert acc.page("admin", "batches/acc_down/reconcile").status_code == 404  # no reconcile section
    assert acc.page("admin", "batches/acc_a/reconcile?limit=100000").status_code == 422


@pytest.mark.parametrize("query", ["rejects?offset=9223372036854775808", "rejects?offset=9223372036854775807",
                                   "rejects?offset=-1", "rejects?limit=0", "rejects?limit=100000",
                                   "rejects?offset=1e3"])
def test_numeric_parameters_out_of_range_answer_422(access: Access, query: str):
    r = access.page("admin", f"batches/acc_a/runs/{access.runs['acc_a']}/{query}")
    assert r.status_code == 422, (r.status_code, r.text)


@pytest.mark.parametrize("run_id", ["0", "-1", "9223372036854775808", "99999999999999999999999"])
def test_run_ids_out_of_range_answer_422(access: Access, run_id: str):
    for part in ("", "/rejects", "/reconciliation"):
        r = access.page("admin", f"batches/acc_a/runs/{run_id}{part}")
        assert r.status_code == 422, (run_id, part, r.status_code, r.text)


def test_a_bad_spec_or_an_unreachable_target_is_its_own_batch_error(access: Access):
    listed = _listed(access, "alice")
    broken = listed["acc_broken"]
    assert broken["runs"] is None and "acc_broken.yaml" in broken["error"] and "key" in broken["error"]
    down = listed["acc_down"]
    assert down["runs"] is None and "cannot read the control schema of batch 'acc_down'" in down["error"]
    assert listed["acc_a"]["runs"] and not listed["acc_a"].get("error")
    r = access.page("admin", "batches/acc_broken/runs/1")
    assert r.status_code == 404 and "acc_broken.yaml" in r.text
    r = access.page("admin", "batches/acc_down/runs/1/rejects")
    assert r.status_code == 502 and "127.0.0.1" not in r.text and "nobody" not in r.text


def test_validate_connect_finds_a_connection_of_the_metadata_database(access: Access, tmp_path):
    """``gaussdb-batch validate --connect`` resolves connections as tasks do: here the target's is
    only in the metadata database (as the UI, airflow_settings.yaml or `airflow connections add` store it)."""
    import subprocess

    from tests.e2e.conftest import AIRFLOW

    env = {k: v for k, v in access.env.items() if k != "AIRFLOW_CONN_E2E_TARGET"}
    target = json.loads(access.env["AIRFLOW_CONN_E2E_TARGET"])
    add = subprocess.run([AIRFLOW, "connections", "add", "acc_meta_target", "--conn-json", json.dumps(target)],
                         env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert add.returncode == 0, add.stderr[-2000:]
    spec = tmp_path / "acc_meta.yaml"
    spec.write_text(_spec("acc_meta").replace("conn_id: e2e_target", "conn_id: acc_meta_target"))
    cli = str(AIRFLOW).replace("/airflow", "/gaussdb-batch")
    res = subprocess.run([cli, "validate", "--connect", "--dags", "none", str(spec)], env=env, cwd=str(ROOT),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "checked against the databases" in res.stdout, res.stdout + res.stderr[-3000:]
