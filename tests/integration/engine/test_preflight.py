"""Pre-flight against real PostgreSQL: every problem a spec has with its databases, before any data moves."""

from __future__ import annotations

import psycopg2
import pytest

from gaussdb_batch.engine import preflight
from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.spec_parser import parse_spec
from gaussdb_batch.hooks.gaussdb import GaussDBHook

pytestmark = pytest.mark.parametrize("dialect_name", ["postgres"])


def _schema_exists(dsn: str, schema: str) -> bool:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        return cur.fetchone() is not None


def test_a_spec_that_fits_its_databases_has_no_problems(make_ctx, orders, dialect_name):
    ctx = make_ctx(checks={"not_null": ["o_custkey"], "ranges": {"o_totalprice": {"min": 0}}},
                   source={"tie_break": ["o_orderdate"]})
    assert preflight.check(ctx) == []


def test_every_problem_is_named_with_its_field_and_column(make_ctx, orders, dialect_name, target_dsn, schemas):
    ctx = make_ctx(source={"interval_column": "o_orderdat", "tie_break": ["updated"]},
                   checks={"not_null": ["o_custky"], "unique": [["o_status", "nope"]]})
    problems = {p.field: p.message for p in preflight.check(ctx)}
    assert set(problems) == {"checks", "source.interval_column", "source.tie_break"}, problems
    assert problems["source.interval_column"].startswith("'o_orderdat' is not a column of source ")
    assert "'o_custky', 'nope' are not columns of target" in problems["checks"]
    assert "o_orderdate" in problems["source.interval_column"]  # the columns it has, to pick the right one
    with pytest.raises(preflight.PreflightError) as err:
        preflight.require(ctx)
    assert "o_orderdat" in str(err.value) and "o_custky" in str(err.value)
    assert not _schema_exists(target_dsn, schemas["control"])  # nothing was written, not even the control schema


def test_a_target_without_a_key_index_or_table(make_ctx, orders, dialect_name, target_dsn, schemas):
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"ALTER TABLE {orders} DROP CONSTRAINT orders_pkey")
    problems = preflight.check(make_ctx())
    assert [p.field for p in problems] == ["keys"] and "no index on its key columns" in problems[0].message
    missing = preflight.check(make_ctx(target={"table": f"{schemas['data']}.no_such_table"}))
    assert [p.field for p in missing] == ["target.table"]
    assert "create the target table first" in missing[0].message


def test_source_sql_is_probed_for_its_columns(make_ctx, orders, dialect_name, schemas):
    sql = (f"SELECT o_orderkey, o_custkey FROM {schemas['data']}.orders "
           "WHERE o_orderdate >= %(start)s AND o_orderdate < %(end)s")
    problems = preflight.check(make_ctx(source={"table": None, "interval_column": None, "sql": sql}))
    assert [p.field for p in problems] == ["source.sql"]
    assert "'o_status', 'o_totalprice', 'o_orderdate', 'o_comment' are not columns" in problems[0].message
    bad = sql.replace("o_custkey", "o_custky")
    problems = preflight.check(make_ctx(source={"table": None, "interval_column": None, "sql": bad}))
    assert [p.field for p in problems] == ["source.sql"]
    assert "SQLSTATE 42703" in problems[0].message and "o_custky" in problems[0].message  # the server's message


def _problems(spec: dict) -> list[preflight.Problem]:
    ctx = BatchContext(parse_spec(spec), hook_factory=lambda cid: GaussDBHook(gaussdb_conn_id=cid))
    try:
        return preflight.check(ctx)
    finally:
        ctx.close()


def test_a_missing_connection_is_named(spec_data, orders, dialect_name):
    problems = _problems(spec_data(source={"conn_id": "no_such_conn"}))
    assert [p.field for p in problems] == ["source.conn_id"]
    assert "connection 'no_such_conn' is not defined in Airflow" in problems[0].message


def test_a_refused_login_is_named(spec_data, orders, dialect_name, pg_env, monkeypatch):
    import json

    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_GB_TARGET"])
    conn["password"] = "wrong-password"
    monkeypatch.setenv("AIRFLOW_CONN_GB_BADPW", json.dumps(conn))
    problems = _problems(spec_data(target={"conn_id": "gb_badpw"}))
    assert [p.field for p in problems] == ["target.conn_id"]
    assert "cannot use connection 'gb_badpw'" in problems[0].message
    assert "wrong-password" not in problems[0].message


def test_validate_connect_runs_the_same_preflight(spec_data, orders, dialect_name, tmp_path, capsys):
    import yaml

    from gaussdb_batch.cli import main

    good, bad = tmp_path / "orders_sync.yaml", tmp_path / "orders_bad.yaml"
    good.write_text(yaml.safe_dump(spec_data()))
    bad.write_text(yaml.safe_dump(spec_data(name="orders_bad", checks={"not_null": ["o_custky"]})))
    assert main(["validate", "--connect", "--dags", "none", str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert f"ok    {good}: batch 'orders_sync' ok (checked against the databases)" in out
    assert f"error {bad}: batch 'orders_bad': checks: 'o_custky' is not a column of target" in err
    assert main(["validate", "--dags", "none", str(bad)]) == 0  # offline, the column is not checked


def test_extract_reads_the_key_index_once_per_process(make_ctx, orders, dialect_name, target_dsn):
    """ExtractOperator runs the pre-flight, then extract: the key index is checked by one of them.
    Extract alone checks it; after a passed pre-flight it does not read the catalog again (dropping
    the index in between shows which ran)."""
    import datetime as dt

    from gaussdb_batch.engine.errors import PermanentBatchError
    from gaussdb_batch.engine.extract import extract

    start, end = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    checked = make_ctx()
    preflight.require(checked)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"ALTER TABLE {orders} DROP CONSTRAINT orders_pkey")
    assert extract(checked, start, end).rows == 0
    with pytest.raises(PermanentBatchError, match="no index on its key columns"):
        extract(make_ctx(), start, end)
