"""Expectation suites (GX Core) on the rows a run loaded, against real PostgreSQL under both dialects."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid

import psycopg2
import pytest

from gaussdb_batch.checks.expectations import validate_run
from gaussdb_batch.engine.suite_spec import parse_suite
from gaussdb_batch.engine.check import check_run
from gaussdb_batch.checks.suite import run_batch_checks
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane

from tests.conftest import ROOT
from tests.integration.engine.conftest import control_rows, fingerprint, make_orders

UTC = dt.timezone.utc
D1, D3 = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 3, tzinfo=UTC)
#: make_orders(1000) puts 667 orders on the first two days; o_totalprice = key * 7.31.
RUN_ROWS = 667

NOT_NULL = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "o_custkey"}}
ROW_COUNT = {"type": "expect_table_row_count_to_equal", "kwargs": {"value": RUN_ROWS}}
PRICE_POSITIVE = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "o_totalprice", "min_value": 0}}
PRICE_IMPOSSIBLE = {"type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "o_totalprice", "min_value": 0, "max_value": 1}}


def _loaded_run(make_ctx, orders, source_dsn, **spec):
    """A finished load of 2024-01-01..03 (667 rows); returns (ctx, run_id)."""
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 1000)
    ctx = make_ctx(**spec)
    ex = extract(ctx, D1, D3)
    for lane in range(ctx.spec.lanes):
        run_lane(ctx, ex.run_id, lane)
    assert check_run(ctx, ex.run_id).mismatched_first_pass == []
    return ctx, ex.run_id


def _stored(target_dsn, control, run_id):
    return control_rows(target_dsn, control,
                        "SELECT suite, success, evaluated, failed, result FROM {c}.quality_results "
                        "WHERE run_id = %s ORDER BY checked_at", (run_id,))


def test_a_passing_suite_is_stored_and_sees_only_the_runs_rows(make_ctx, orders, source_dsn, target_dsn, schemas):
    # Rows already in the target outside the run's keys break every expectation below:
    # the suite must see only the rows this run loaded.
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 50, start_key=5000)
        cur.execute(f"UPDATE {orders} SET o_totalprice = -1")
    ctx, run_id = _loaded_run(make_ctx, orders, source_dsn)

    outcome = validate_run(ctx, run_id, [NOT_NULL, ROW_COUNT, PRICE_POSITIVE])

    assert outcome.success is True and outcome.failed == []
    s = outcome.summary
    assert (s["evaluated"], s["successful"], s["failed"]) == (3, 3, [])
    by_name = {e["expectation"]: e for e in s["expectations"]}
    assert by_name["expect_table_row_count_to_equal"]["observed"]["observed_value"] == RUN_ROWS
    assert by_name["expect_column_values_to_be_between(o_totalprice)"]["observed"]["element_count"] == RUN_ROWS
    json.dumps(s)  # JSON-able as promised
    [(suite, success, evaluated, failed, result)] = _stored(target_dsn, schemas["control"], run_id)
    assert (suite, success, evaluated, failed) == ("orders_sync.inline", True, 3, 0)
    assert json.loads(result) == json.loads(json.dumps(s))


def test_a_failing_suite_names_the_failures_stores_them_and_fails_the_check(
    make_ctx, orders, source_dsn, target_dsn, schemas
):
    ctx, run_id = _loaded_run(make_ctx, orders, source_dsn,
                              checks={"expectations": [NOT_NULL, PRICE_IMPOSSIBLE, ROW_COUNT]})
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT min(o_orderkey), max(o_orderkey) FROM {orders}")
        lo, hi = cur.fetchone()

    outcome = validate_run(ctx, run_id, ctx.spec.checks.expectations)

    assert outcome.success is False
    assert outcome.failed == ["expect_column_values_to_be_between(o_totalprice)"]
    s = outcome.summary
    assert (s["evaluated"], s["successful"]) == (3, 2)
    [bad] = [e for e in s["expectations"] if not e["success"]]
    assert bad["observed"]["unexpected_count"] == RUN_ROWS  # every price exceeds 1
    # Aggregates only: no sample of unexpected values leaves the database.
    text = json.dumps(s)
    assert "partial_unexpected" not in text and f"{lo * 7.31:.2f}" not in text and f"{hi * 7.31:.2f}" not in text
    [(suite, success, evaluated, failed, result)] = _stored(target_dsn, schemas["control"], run_id)
    assert (suite, success, evaluated, failed) == ("orders_sync.inline", False, 3, 1)
    assert json.loads(result)["failed"] == ["expect_column_values_to_be_between(o_totalprice)"]

    # The batch's check step turns it into a permanent error naming the expectation.
    with pytest.raises(PermanentBatchError, match=r"expectation expect_column_values_to_be_between\(o_totalprice\)"):
        run_batch_checks(ctx, run_id)
    assert len(_stored(target_dsn, schemas["control"], run_id)) == 2


def test_an_expectation_that_errors_fails_and_warnings_do_not(make_ctx, orders, source_dsn, target_dsn, schemas):
    ctx, run_id = _loaded_run(make_ctx, orders, source_dsn)
    regex_on_numeric = {"type": "expect_column_values_to_match_regex",
                        "kwargs": {"column": "o_totalprice", "regex": "^[0-9]"}}
    warning = {**PRICE_IMPOSSIBLE, "severity": "warning"}

    errored = validate_run(ctx, run_id, [regex_on_numeric, NOT_NULL])
    assert errored.success is False
    assert errored.failed == ["expect_column_values_to_match_regex(o_totalprice)"]
    [entry] = [e for e in errored.summary["expectations"] if not e["success"]]
    assert "operator does not exist" in entry["error"]

    warned = validate_run(ctx, run_id, [warning, NOT_NULL])
    assert warned.success is True and warned.failed == []
    assert warned.summary["warnings"] == ["expect_column_values_to_be_between(o_totalprice)"]
    assert [r[1] for r in _stored(target_dsn, schemas["control"], run_id)] == [False, True]


def test_the_password_never_reaches_logs_or_results(make_ctx, orders, source_dsn, target_dsn, schemas, pg_env, caplog):
    ctx, run_id = _loaded_run(make_ctx, orders, source_dsn)
    caplog.set_level(logging.DEBUG)
    outcome = validate_run(ctx, run_id, [PRICE_IMPOSSIBLE])
    assert outcome.success is False
    password = pg_env["GAUSSDB_BATCH_PG_PASSWORD"]
    assert "expect_column_values_to_be_between(o_totalprice)" in caplog.text
    assert password not in caplog.text
    assert password not in _stored(target_dsn, schemas["control"], run_id)[0][4]


SUITE_FILE = {
    "name": "orders_quality",
    "meta": {"great_expectations_version": "1.24.1"},
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "o_orderdate"}, "meta": {}, "id": None},
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "o_totalprice", "max_value": 10}},
    ],
}


@pytest.mark.parametrize("form", ["suite", "list"])
def test_a_json_file_suite_under_the_include_folder(make_ctx, orders, source_dsn, target_dsn, schemas,
                                                    tmp_path, monkeypatch, form):
    (tmp_path / "expectations").mkdir()
    content = SUITE_FILE if form == "suite" else SUITE_FILE["expectations"]
    (tmp_path / "expectations" / "orders.json").write_text(json.dumps(content))
    monkeypatch.setenv("GAUSSDB_BATCH_INCLUDE", str(tmp_path))
    ctx, run_id = _loaded_run(make_ctx, orders, source_dsn)

    outcome = validate_run(ctx, run_id, "expectations/orders.json")

    assert outcome.failed == ["expect_column_max_to_be_between(o_totalprice)"]
    [max_entry] = [e for e in outcome.summary["expectations"] if not e["success"]]
    assert max_entry["observed"]["observed_value"] == pytest.approx(1000 * 7.31)  # key 1000 is the run's largest
    expected_name = "orders_quality" if form == "suite" else "orders"
    assert [r[0] for r in _stored(target_dsn, schemas["control"], run_id)] == [expected_name]
    # The spelling of the docs ("include/expectations/...") resolves to the same file.
    assert parse_suite("b", "include/expectations/orders.json").name == expected_name


def test_the_shipped_example_suite_is_valid(monkeypatch):
    monkeypatch.setenv("GAUSSDB_BATCH_INCLUDE", str(ROOT / "include"))
    suite = parse_suite("tpch_orders", "expectations/tpch_orders.json")
    assert suite.name == "tpch_orders" and len(suite.expectations) >= 3
    from gaussdb_batch.checks.expectations import _build_expectations, _import_gx

    _import_gx().get_context(mode="ephemeral")
    assert len(_build_expectations("tpch_orders", suite)) == len(suite.expectations)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"type": "expect_column_values_to_not_be_null"}, r"checks\.expectations must be a list .* got dict"),
        ([], r"checks\.expectations declares no expectations"),
        (["expect_column_values_to_not_be_null"], r"checks\.expectations\[0\] must be a mapping"),
        ([{"kwargs": {"column": "o_custkey"}}], r"checks\.expectations\[0\]\.type is required"),
        ([NOT_NULL, {"type": "expect_column_values_to_be_nul", "kwargs": {"column": "o_custkey"}}],
         r"checks\.expectations\[1\]\.type: unknown expectation type 'expect_column_values_to_be_nul'"
         r" \(did you mean expect_column_values_to_be_null"),
        ([{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "o_custkey"}, "mostly": 1}],
         r"checks\.expectations\[0\]: unknown keys \['mostly'\]"),
        ([{"type": "expect_column_values_to_be_between", "kwargs": {"column": "o_totalprice", "mostly": 3}}],
         r"checks\.expectations\[0\] \(expect_column_values_to_be_between\): invalid kwargs: mostly: "),
        ([{"type": "expect_column_values_to_not_be_null", "kwargs": {"colum": "o_custkey"}}],
         r"checks\.expectations\[0\] \(expect_column_values_to_not_be_null\): invalid kwargs: .*colum"),
        ([{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "o_nope"}}],
         r"checks\.expectations\[0\]\.kwargs\.column: 'o_nope' is not a column of"),
        ([{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "o_custkey"}, "severity": "high"}],
         r"checks\.expectations\[0\]\.severity must be one of"),
        ("expectations/missing.json", r"checks\.expectations: suite file 'expectations/missing.json' not found"),
        ("expectations/broken.json", r"checks\.expectations: .*broken\.json is not valid JSON"),
        ("expectations/wrong.json", r"checks\.expectations \(wrong\.json\): unknown suite keys \['expectation'\]"),
    ],
)
def test_bad_shapes_fail_before_any_query_naming_the_field(make_ctx, orders, target_dsn, schemas, tmp_path,
                                                           monkeypatch, value, message):
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "broken.json").write_text("[{")
    (tmp_path / "expectations" / "wrong.json").write_text(json.dumps({"name": "x", "expectation": []}))
    monkeypatch.setenv("GAUSSDB_BATCH_INCLUDE", str(tmp_path))
    ctx = make_ctx()
    with pytest.raises(PermanentBatchError, match=message) as err:
        validate_run(ctx, 1, value)
    assert "batch 'orders_sync'" in str(err.value)
    # Nothing was validated, so nothing was stored (the control schema was not even created).
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f'"{schemas["control"]}".quality_results',))
        assert cur.fetchone()[0] is None


# ------------------------------------------------------------------- logging in as the hook does
GAUSS_PASSWORD = "Gauss_Pw#2024"


@pytest.fixture
def sha256_target(pg_env, monkeypatch):
    """Connection gb_gauss: the target database behind a server asking for openGauss's sha256 exchange.

    Its extras are gb_target's (dialect, search_path) without a fixed driver: auto picks the one
    that answers the login. Returns (server, set_conn(**changes)).
    """
    from tests.gauss_auth_server import GaussAuthServer

    server = GaussAuthServer(
        password=GAUSS_PASSWORD,
        upstream=(pg_env["GAUSSDB_BATCH_PG_HOST"], int(pg_env["GAUSSDB_BATCH_PG_PORT"])),
        upstream_user=pg_env["GAUSSDB_BATCH_PG_MD5_USER"],
        upstream_password=pg_env["GAUSSDB_BATCH_PG_PASSWORD"],
        iterations=4096,
    ).start()

    def set_conn(**changes) -> None:
        import os

        conn = json.loads(os.environ["AIRFLOW_CONN_GB_TARGET"])
        extra = {k: v for k, v in conn["extra"].items() if k != "driver"}
        extra.update({"retry_initial_delay": 0.05, "retry_max_delay": 0.2}, **changes.pop("extra", {}))
        conn.update(host="127.0.0.1", port=server.port, login="gaussdb", password=GAUSS_PASSWORD, extra=extra)
        conn.update(changes)
        monkeypatch.setenv("AIRFLOW_CONN_GB_GAUSS", json.dumps(conn))

    set_conn()
    yield server, set_conn
    server.stop()


def test_a_suite_logs_in_through_the_hooks_driver_and_session(make_ctx, orders, source_dsn, sha256_target):
    """libpq cannot answer sha256: the suite must use the hook's driver, login and session settings."""
    from gaussdb_batch.hooks import auth, observe

    server, _ = sha256_target
    _ctx, run_id = _loaded_run(make_ctx, orders, source_dsn)
    auth.reset_cache()
    ctx = make_ctx(target={"conn_id": "gb_gauss"})
    seen: list[tuple[str, str]] = []

    def watch(sql_text: str, dialect_name: str, *_: object) -> None:
        seen.append((sql_text, dialect_name))

    observe.add_statement_observer(watch)
    try:
        outcome = validate_run(ctx, run_id, [NOT_NULL, ROW_COUNT, PRICE_IMPOSSIBLE])
    finally:
        observe.remove_statement_observer(watch)

    assert outcome.failed == ["expect_column_values_to_be_between(o_totalprice)"]
    by_name = {e["expectation"]: e for e in outcome.summary["expectations"]}
    assert by_name["expect_table_row_count_to_equal"]["observed"]["observed_value"] == RUN_ROWS
    assert ctx.target_hook.driver.name == "async_gaussdb"
    assert server.logins and all(login.ok in (True, None) for login in server.logins)
    assert all(login.complaints == [] for login in server.logins)
    # GX's own queries ran on the hook's sessions (its cursors report them, tagged with its dialect).
    gx_queries = [sql for sql, _ in seen if "o_totalprice" in sql and "quality_results" not in sql]
    assert gx_queries and {d for _, d in seen} == {ctx.target_hook.dialect_name}


@pytest.mark.parametrize("engine_driver", ["async_gaussdb", "psycopg"])
def test_a_suite_runs_on_the_hook_sessions_of_each_driver(make_ctx, orders, source_dsn, pg_env, engine_driver):
    """async_gaussdb as the md5 user of scripts/localdb.sh, psycopg 3: GX's queries use the hook's sessions."""
    from gaussdb_batch.hooks import observe

    ctx, run_id = _loaded_run(make_ctx, orders, source_dsn)
    seen: list[str] = []

    def watch(sql_text: str, *_: object) -> None:
        seen.append(sql_text)

    observe.add_statement_observer(watch)
    try:
        outcome = validate_run(ctx, run_id, [NOT_NULL, ROW_COUNT])
    finally:
        observe.remove_statement_observer(watch)
    assert outcome.success is True
    assert ctx.target_hook.driver.name == engine_driver
    if engine_driver == "async_gaussdb":  # it cannot answer SCRAM
        assert ctx.target_hook.connection.login == pg_env["GAUSSDB_BATCH_PG_MD5_USER"]
    assert any("o_custkey" in sql and "quality_results" not in sql for sql in seen)  # GX's own query


@pytest.mark.parametrize("case", ["wrong_password", "libpq_driver_on_sha256"])
def test_a_refused_login_fails_the_suite_at_once_as_permanent(make_ctx, orders, source_dsn, sha256_target, case):
    from gaussdb_batch.hooks import auth

    server, set_conn = sha256_target
    _ctx, run_id = _loaded_run(make_ctx, orders, source_dsn)
    ctx = make_ctx(target={"conn_id": "gb_gauss"})
    ctx.columns  # read the target's columns through a working login first  # noqa: B018
    auth.reset_cache()
    ctx.close()
    set_conn(**({"password": "Not-The-Pw#7731"} if case == "wrong_password" else {"extra": {"driver": "psycopg2"}}))
    del ctx.__dict__["target_hook"]  # the next hook reads the changed connection
    logins_before = len(server.logins)
    started = time.monotonic()
    with pytest.raises(PermanentBatchError, match=r"expectation suite .*connect to the target") as caught:
        validate_run(ctx, run_id, [NOT_NULL])
    assert time.monotonic() - started < 10
    assert "Not-The-Pw#7731" not in str(caught.value) and GAUSS_PASSWORD not in str(caught.value)
    if case == "wrong_password":
        assert "28P01" in str(caught.value)
        answered = [login.ok for login in server.logins[logins_before:] if login.password_messages]
        assert answered == [False]  # one try (driver auto's probe sends none): no lockout by retries
    else:
        assert "SASL" in str(caught.value) or "authentication" in str(caught.value)


# ------------------------------------------------------------------------------ the DAG
DAG_FILE = """\
# An Airflow DAG of one batch, built from the spec next to this file (written by the expectation tests).
import json
from pathlib import Path

from gaussdb_batch.engine.spec_parser import parse_spec
from gaussdb_batch.dag_factory import build_dag

dag = build_dag(parse_spec(json.loads((Path(__file__).parent / "spec.json").read_text())))
"""


@pytest.fixture
def dag_bundle(tmp_path, monkeypatch):
    """A DAG bundle holding one spec's DAG: dag.test() runs only DAGs it finds serialized from a bundle."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "batch_dag.py").write_text(DAG_FILE)
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([
        {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
        {"name": "gaussdb-batch-check-tests", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": str(folder), "refresh_interval": 0}},
    ]))

    def write(data: dict) -> None:
        (folder / "spec.json").write_text(json.dumps(data))

    return write


@pytest.mark.parametrize("dialect_name", ["gaussdb"])
def test_a_failing_expectation_sends_the_dag_run_through_compensation(
    airflow_db, dag_bundle, spec_data, orders, schemas, source_dsn, target_dsn
):
    from airflow.utils.state import TaskInstanceState

    from gaussdb_batch.engine.spec_parser import parse_spec
    from gaussdb_batch.dag_factory import build_dag

    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 1000)
    # The target already holds rows the run will overwrite and rows it will not touch.
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 300, start_key=500)
        cur.execute(f"UPDATE {orders} SET o_comment = 'before ' || o_orderkey, o_totalprice = NULL")
    before = fingerprint(target_dsn, orders)

    data = spec_data(
        name=f"gx_fail_{uuid.uuid4().hex[:8]}", schedule="0 0 */2 * *", start_date="2024-01-01",
        retries=1, retry_delay_seconds=1,
        checks={"not_null": ["o_custkey"], "expectations": [NOT_NULL, PRICE_IMPOSSIBLE]},
    )
    dag_bundle(data)
    dag = build_dag(parse_spec(data))
    dag_run = dag.test(logical_date=D3)  # every other day: the manual run's data interval is D1 .. D3
    assert (dag_run.data_interval_start, dag_run.data_interval_end) == (D1, D3)

    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    states = {task_id: ti.state for task_id, ti in tis.items()}
    assert states["extract"] == TaskInstanceState.SUCCESS
    assert states["check"] == TaskInstanceState.FAILED
    assert tis["check"].try_number == 1  # a failed expectation is permanent: no retry
    assert states["compensate"] == TaskInstanceState.SUCCESS  # it restored the rows the run had changed
    assert states["finalize"] == TaskInstanceState.UPSTREAM_FAILED
    [(run_id, status)] = control_rows(target_dsn, schemas["control"], "SELECT run_id, status FROM {c}.runs")
    assert status == "COMPENSATED"
    [(suite, success, evaluated, failed, result)] = _stored(target_dsn, schemas["control"], run_id)
    assert (success, evaluated, failed) == (False, 2, 1)
    assert json.loads(result)["failed"] == ["expect_column_values_to_be_between(o_totalprice)"]
    assert fingerprint(target_dsn, orders) == before
