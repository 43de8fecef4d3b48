"""The openGauss semantics mode is active in gaussdb-dialect sessions, and the check is exact under it."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from tests.integration.engine.conftest import make_orders

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)
pytestmark = pytest.mark.parametrize("dialect_name", ["gaussdb"])


def test_integer_division_returns_float8_in_gaussdb_sessions(make_ctx, orders, dialect_name):
    ctx = make_ctx()
    row = ctx.one("SELECT 7/2, pg_typeof(7/2)::text, CAST(7 AS bigint)/2", purpose="probe the semantics mode")
    assert (float(row[0]), row[1], float(row[2])) == (3.5, "double precision", 3.5)
    # string_hash_compatible = on: trailing spaces are not hashed.
    assert ctx.one("SELECT hashtext('a ') = hashtext('a')", purpose="probe the semantics mode")[0] is True


def test_the_check_finds_tampered_chunks_under_float_division(make_ctx, orders, source_dsn, target_dsn, dialect_name):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 600)
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:  # change one row in two chunks
        cur.execute(f"UPDATE {orders} SET o_totalprice = o_totalprice + 1 WHERE o_orderkey IN (150, 420)")
    result = check_run(ctx, ex.run_id)
    assert result.mismatched_first_pass == [2, 5] and result.repaired == [2, 5]


# -- sql_compatibility B: number text is checked before the cast -------------------------------------
#: Text PostgreSQL's input functions accept and refuse, per type (the check must agree with them).
NUMBER_TEXTS = {
    "bigint": ["12", " -7 ", "+0", "007", "abc", "12x", "", " ", "1.5", "1e3", "0x1F", "1_000", "- 1"],
    "numeric(15,2)": ["12.50", "-.5", "5.", "+1e3", " NaN ", "1.2.3", "abc", "12x", "", "e5", ".", "1e"],
    "double precision": ["1.5e-3", "-Infinity", "inf", "nan", "1e400x", "abc", "", "Infinityx"],
}


def _b_mode(ctx):
    """What detection finds in a B database (sql_compatibility B), on this PostgreSQL."""
    import dataclasses

    hook = ctx.target_hook
    hook._server_info = dataclasses.replace(hook.server_info, compatibility="B")
    return ctx


@pytest.mark.parametrize("type_sql", sorted(NUMBER_TEXTS))
def test_b_mode_number_checks_accept_exactly_what_the_cast_accepts(make_ctx, orders, dialect_name, type_sql):
    from gaussdb_batch.dialects import Column

    ctx = _b_mode(make_ctx())
    d = ctx.dialect.for_landing(False)
    assert d.caps.check_numbers and not d.lands_typed([Column("v", type_sql)])
    checked = d.cast_expr(Column("v", type_sql))
    assert "~ '(' THEN NULL" in checked

    def outcome(conn, expr: str, text: str) -> str | None:
        with conn.cursor() as cur:
            cur.execute("SAVEPOINT probe")
            try:
                cur.execute(f"SELECT {expr} FROM (SELECT CAST(%(v)s AS text) AS v) s", {"v": text})
                cur.fetchone()
            except ctx.target_hook.driver.Error as exc:
                cur.execute("ROLLBACK TO SAVEPOINT probe")
                return ctx.target_hook.driver.sqlstate(exc)
            return None

    def both(conn):
        return {t: (outcome(conn, f"CAST(s.v AS {type_sql})", t), outcome(conn, checked, t)) for t in NUMBER_TEXTS[type_sql]}

    results = ctx.tx(both, purpose="cast and check number text")
    for text, (cast, check) in results.items():
        # the check refuses what the cast refuses (with the regular expression's 2201B), no more
        assert (cast is None) == (check is None), (text, cast, check)
        assert check in (None, "2201B") or (cast == check == "22003"), (text, cast, check)  # 22003: out of range
    assert any(check for _, check in results.values())  # every type has bad text in the list


def test_b_mode_rejects_bad_number_text_instead_of_loading_zero(make_ctx, orders, source_dsn, target_dsn, schemas,
                                                                dialect_name):
    """In a B database CAST('abc' AS bigint) is 0: without the check these rows would load as 0 and 12."""
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 300)
        cur.execute(f"ALTER TABLE {orders} ALTER COLUMN o_custkey TYPE text")
        cur.execute(f"UPDATE {orders} SET o_custkey = CASE o_orderkey WHEN 10 THEN 'abc' WHEN 20 THEN '12x' "
                    "ELSE ' 5 ' END WHERE o_orderkey IN (10, 20, 30)")
    ctx = _b_mode(make_ctx(chunk_rows=100, max_rejects=5))
    ex = extract(ctx, START, END)
    assert ctx.landing_layout(ex.run_id) is False  # number text lands as text, checked at load
    lane = run_lane(ctx, ex.run_id, 0)
    assert lane.rows_written == 298 and lane.rows_rejected == 2
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f'SELECT key_text, sqlstate, message FROM "{schemas["control"]}".rejects ORDER BY seq')
        rejects = cur.fetchall()
        cur.execute(f"SELECT o_custkey FROM {orders} WHERE o_orderkey = 30")
        assert cur.fetchone()[0] == 5
    assert [(k, s) for k, s, _ in rejects] == [("10", "22P02"), ("20", "22P02")]
    assert all("sql_compatibility B" in m for _, _, m in rejects)
