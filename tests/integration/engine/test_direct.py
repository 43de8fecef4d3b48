"""Direct chunks (engine.direct): chunks planned as key ranges on the source, read by the lanes.

Rows of ranges the target does not hold go from the source straight into the target (the landing
keeps their keys only); a range the target already holds identically is neither rewritten nor
journaled; any other range is staged and upserted. Every case is checked against the source, then
compensated back to the exact pre-run target. Both dialects (GaussDB's under the openGauss
semantics mode): the GaussDB dialect copies in csv and stages every pre-filled range; between
PostgreSQL servers rows move in binary and identical ranges are found by fingerprint.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from decimal import Decimal

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run
from gaussdb_batch.engine.direct import KEY_MAX, KEY_MIN, direct_reason
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from tests.integration.engine.conftest import control_rows, fingerprint, interval_fingerprint, make_orders

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)

POSTGRES = pytest.mark.parametrize("dialect_name", ["postgres"])


def _exec(dsn: str, sql: str, params: tuple | list = ()) -> list[tuple]:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def _journal(dsn: str, ctx, run_id: int) -> dict[str, int]:
    return dict(_exec(dsn, f"SELECT _gb_op, count(*) FROM {ctx.undo.sql} WHERE _gb_run_id = %s GROUP BY 1",
                      (run_id,)))


def _ranges(dsn: str, control: str, run_id: int) -> list[tuple]:
    return control_rows(dsn, control, "SELECT chunk_no, key_from, key_to FROM {c}.chunks WHERE run_id = %s"
                        " ORDER BY chunk_no", (run_id,))


def _load_and_check(ctx, run_id: int):
    for lane in (0, 1):
        run_lane(ctx, run_id, lane)
    return check_run(ctx, run_id)


def test_empty_target_every_row_is_written_once_and_the_landing_keeps_only_keys(
        dialect_name, make_ctx, orders, source_dsn, target_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 3000)
    ctx = make_ctx(chunk_rows=250)
    ex = extract(ctx, START, END)
    assert direct_reason(ctx) is None
    ranges = _ranges(target_dsn, schemas["control"], ex.run_id)
    assert ex.chunks == len(ranges) == 12
    assert control_rows(target_dsn, schemas["control"], "SELECT DISTINCT rows_in FROM {c}.chunks"
                        " WHERE run_id = %s", (ex.run_id,)) == [(250,)]
    # Contiguous, the outer ends open: every key the interval can hold has exactly one chunk.
    assert ranges[0][1] == KEY_MIN and ranges[-1][2] == KEY_MAX
    assert all(b[1] == a[2] + 1 for a, b in itertools.pairwise(ranges))
    landing = f'"{schemas["control"]}".land_{ex.run_id}'
    assert _exec(target_dsn, f"SELECT count(*) FROM {landing}") == [(0,)]  # extract landed nothing
    result = _load_and_check(ctx, ex.run_id)
    assert result.mismatched_first_pass == [] and result.rows == 3000
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, START, END)
    # The target got each row once; the landing got each key, and nothing else of the row.
    assert _exec(target_dsn, f"SELECT count(*), count(o_orderkey), count(o_custkey), count(o_orderdate)"
                             f" FROM {landing}") == [(3000, 3000, 0, 0)]
    assert _journal(target_dsn, ctx, ex.run_id) == {}  # inserted keys are the landed keys
    inserted = control_rows(target_dsn, schemas["control"], "SELECT sum(rows_inserted), sum(rows_updated)"
                            " FROM {c}.chunks WHERE run_id = %s", (ex.run_id,))
    assert inserted == [(3000, 0)]
    res = compensate_run(ctx, ex.run_id, reason="test")
    assert res.rows_deleted == 3000
    assert fingerprint(target_dsn, orders) == (0, "")


def test_identical_target_is_neither_rewritten_nor_journaled(dialect_name, make_ctx, orders, source_dsn,
                                                            target_dsn):
    for dsn in (source_dsn, target_dsn):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            make_orders(cur, orders, 1500)
    versions = dict(_exec(target_dsn, f"SELECT o_orderkey, xmin::text FROM {orders}"))
    before = fingerprint(target_dsn, orders)
    ctx = make_ctx(chunk_rows=200)
    ex = extract(ctx, START, END)
    result = _load_and_check(ctx, ex.run_id)
    assert result.mismatched_first_pass == []
    assert dict(_exec(target_dsn, f"SELECT o_orderkey, xmin::text FROM {orders}")) == versions
    assert _journal(target_dsn, ctx, ex.run_id) == {"E": ex.chunks}  # only each chunk's exact mark
    compensate_run(ctx, ex.run_id, reason="test")
    assert fingerprint(target_dsn, orders) == before
    assert dict(_exec(target_dsn, f"SELECT o_orderkey, xmin::text FROM {orders}")) == versions


def test_mixed_ranges_go_straight_staged_or_stay_and_compensation_restores_the_target(
        dialect_name, make_ctx, orders, source_dsn, target_dsn, schemas):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 2000)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 2000)
        cur.execute(f"DELETE FROM {orders} WHERE o_orderkey > 1000")  # ranges above 1000: empty
        cur.execute(f"UPDATE {orders} SET o_comment = 'changed' WHERE o_orderkey IN (803, 901, 902)")
        cur.execute(f"UPDATE {orders} SET o_totalprice = -o_totalprice WHERE o_orderkey = 977")
        cur.execute(f"UPDATE {orders} SET o_status = NULL WHERE o_orderkey = 978 AND o_status IS NOT NULL")
    before = fingerprint(target_dsn, orders)
    ctx = make_ctx(chunk_rows=200)
    ex = extract(ctx, START, END)
    result = _load_and_check(ctx, ex.run_id)
    assert result.mismatched_first_pass == []
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, START, END)
    journal = _journal(target_dsn, ctx, ex.run_id)
    assert journal.get("U") == 5 - (_exec(source_dsn, f"SELECT o_status FROM {orders} WHERE o_orderkey = 978")
                                    == [(None,)])
    assert "I" not in journal  # new keys went straight in: they are the landed keys
    landing = f'"{schemas["control"]}".land_{ex.run_id}'
    ways = [w for (w,) in control_rows(target_dsn, schemas["control"], "SELECT way FROM {c}.chunks"
                                       " WHERE run_id = %s ORDER BY chunk_no", (ex.run_id,))]
    # GaussDB's dialect compares no range with the source (no common row hash): it stages them, and its
    # MERGE leaves the identical rows alone.
    pre = ["identical"] * 4 if dialect_name == "postgres" else ["staged"] * 4
    assert ways == pre + ["staged"] + ["straight"] * 5
    # The staged range landed whole rows; straight and identical ones keys only.
    staged = {k for (k,) in _exec(target_dsn, f"SELECT o_orderkey FROM {landing} WHERE o_custkey IS NOT NULL")}
    keys_only = {k for (k,) in _exec(target_dsn, f"SELECT o_orderkey FROM {landing} WHERE o_custkey IS NULL")}
    assert staged == set(range(801 if dialect_name == "postgres" else 1, 1001))
    assert keys_only == set(range(1, 2001)) - staged
    compensate_run(ctx, ex.run_id, reason="test")
    assert fingerprint(target_dsn, orders) == before


def test_a_row_the_target_refuses_stages_its_range_and_is_quarantined(dialect_name, make_ctx, orders, source_dsn,
                                                                     target_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 1000)
    _exec(target_dsn, f"ALTER TABLE {orders} ADD CONSTRAINT price_cap CHECK (o_totalprice < 7300)")
    refused = {k for k in range(1, 1001) if Decimal(k) * Decimal("7.31") >= 7300}
    ctx = make_ctx(chunk_rows=200, max_rejects=10)
    ex = extract(ctx, START, END)
    result = _load_and_check(ctx, ex.run_id)
    assert result.still_different == []
    assert {int(k) for (k,) in _exec(target_dsn, f"SELECT o_orderkey FROM {orders}")} == set(range(1, 1001)) - refused
    rejected = _exec(target_dsn, f"SELECT sqlstate, count(*) FROM {ctx.schema}.rejects WHERE run_id = %s GROUP BY 1",
                     (ex.run_id,))
    assert rejected == [("23514", len(refused))]


def test_rows_that_reach_the_source_after_the_plan_are_read_by_their_chunk(
        dialect_name, make_ctx, orders, source_dsn, target_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 1000, start_key=1000)
    ctx = make_ctx(chunk_rows=200)
    ex = extract(ctx, START, END)
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:  # below, inside and above the planned span
        for k in (-5, 9_000_000_000):
            cur.execute(f"INSERT INTO {orders} VALUES (%s, 1, 'O', 1.00, DATE '2024-01-02', 'late')", (k,))
        cur.execute(f"UPDATE {orders} SET o_comment = 'late' WHERE o_orderkey = 1500")
        cur.execute(f"DELETE FROM {orders} WHERE o_orderkey = 1200")
    result = _load_and_check(ctx, ex.run_id)
    assert result.still_different == []
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, START, END)


# -- the fingerprint read on the source equals the target's, adversarial values included ---------------
DDL = ("CREATE TABLE {t} (k bigint PRIMARY KEY, d date NOT NULL, i integer, big bigint, amount numeric, "
       "f double precision, note text, code varchar(8), ts timestamptz)")
COLS = "k, d, i, big, amount, f, note, code, ts"
FOLD = 1 << 32

_amount = st.one_of(st.none(), st.decimals(allow_nan=False, allow_infinity=False, places=3,
                                           min_value=-10**9, max_value=10**9),
                    st.sampled_from([Decimal(0), Decimal("-0"), Decimal("NaN"), Decimal("Infinity"),
                                     Decimal("-Infinity"), Decimal("2.750")]))
_float = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0]))
_big = st.one_of(st.none(), st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
                 st.sampled_from([0, -1, (1 << 63) - 1, -(1 << 63), FOLD, FOLD + 1]))
_text = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                     max_size=12),
                  st.sampled_from(["", " ", "a", "A", "é", "e\u0301", "x "]))
_row = st.tuples(st.one_of(st.none(), st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1)), _big, _amount,
                 _float, _text, st.one_of(st.none(), st.text(max_size=8, alphabet="abAB é'%\\")),
                 st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1),
                                                   timezones=st.just(UTC))))


_ZERO = {"i": 0, "big": 0, "amount": Decimal(0), "f": 0.0, "note": "", "code": "",
         "ts": dt.datetime(1970, 1, 1, tzinfo=UTC)}


def _twin(col: str, value):
    """A value the fingerprint must tell apart from ``value`` (sign, NULL vs zero or '', NaN vs
    infinity, a 64-bit fold partner, case)."""
    if value is None:
        return _ZERO[col]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return (value ^ 1) + FOLD if -(1 << 62) < value < (1 << 62) else -(value + 1)
    if isinstance(value, Decimal):
        if value.is_nan():
            return Decimal("Infinity")
        return -value if value != 0 else None
    if isinstance(value, float):
        return float("inf") if value != value else -value  # 0.0 and -0.0 too: a stored sign
    if isinstance(value, str):
        return value.swapcase() if value.swapcase() != value else (None if value == "" else value + " ")
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(microseconds=1)
    return None


_examples = itertools.count()


@POSTGRES
@given(rows=st.lists(_row, min_size=1, max_size=25), flip=st.data())
@settings(max_examples=int(os.environ.get("GB_DIRECT_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_direct_fingerprints_agree_across_servers_and_a_corrupted_value_is_rewritten(
        rows, flip, make_ctx, schemas, source_dsn, target_dsn):
    """The check's landed side is read on the source: a run of generated rows matches on its first pass;
    a second run finds every range identical (nothing rewritten); a target value changed into its
    adversarial twin makes its range differ, and the next run restores the source's value."""
    n = next(_examples)
    t = f'"{schemas["data"]}".adv'
    if n == 0 or not _exec(target_dsn, "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'adv'",
                           (schemas["data"],)):
        for dsn in (source_dsn, target_dsn):
            _exec(dsn, DDL.format(t=t))
    start = START + dt.timedelta(days=10 * n)
    base = 1000 * n
    src_rows = [(base + i, (start + dt.timedelta(days=i % 3)).date(), *r) for i, r in enumerate(rows)]
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.executemany(f"INSERT INTO {t} ({COLS}) VALUES ({', '.join(['%s'] * 9)})", src_rows)
    overrides = {"source": {"table": f"{schemas['data']}.adv", "interval_column": "d"},
                 "target": {"table": f"{schemas['data']}.adv"}, "keys": ["k"], "chunk_rows": 4}
    ctx = make_ctx(**overrides)

    def image(dsn: str) -> list[tuple]:
        return _exec(dsn, f"SELECT {COLS.replace('amount', 'amount::text').replace('f,', 'f::text,')}"
                          f" FROM {t} WHERE k >= %s AND k < %s ORDER BY k", (base, base + 1000))

    ex = extract(ctx, start, start + dt.timedelta(days=3))
    assert ex.chunks >= 1
    assert _load_and_check(ctx, ex.run_id).mismatched_first_pass == []
    assert image(target_dsn) == image(source_dsn)
    ctx2 = make_ctx(**overrides)
    ex2 = extract(ctx2, start, start + dt.timedelta(days=3) - dt.timedelta(microseconds=1))
    versions = _exec(target_dsn, f"SELECT k, xmin::text FROM {t} WHERE k >= %s ORDER BY k", (base,))
    assert _load_and_check(ctx2, ex2.run_id).mismatched_first_pass == []
    assert _exec(target_dsn, f"SELECT k, xmin::text FROM {t} WHERE k >= %s ORDER BY k", (base,)) == versions
    assert set(_journal(target_dsn, ctx2, ex2.run_id)) <= {"E"}
    # One value of one row becomes its twin in the target: its range must not count as identical.
    row = flip.draw(st.integers(min_value=0, max_value=len(src_rows) - 1))
    col = flip.draw(st.sampled_from(["i", "big", "amount", "amount scale", "f", "note", "code", "ts"]))
    if col == "amount scale":  # the same number, one more decimal place: 1.5 -> 1.50
        _exec(target_dsn, f"UPDATE {t} SET amount = round(amount, scale(amount) + 1) WHERE k = %s"
                          " AND scale(amount) IS NOT NULL", (src_rows[row][0],))
    else:
        value = src_rows[row][2 + ["i", "big", "amount", "f", "note", "code", "ts"].index(col)]
        twin = _twin(col, value)
        if col == "i" and isinstance(twin, int) and not -(1 << 31) <= twin < (1 << 31):
            twin = -(value + 1) if value is not None else 0
        if col == "code" and isinstance(twin, str) and len(twin) > 8:
            twin = twin[:7]
        _exec(target_dsn, f"UPDATE {t} SET {col} = %s WHERE k = %s", (twin, src_rows[row][0]))
    if image(target_dsn) == image(source_dsn):
        return  # a twin the column's type stores as the same value (e.g. -0 in numeric)
    ctx3 = make_ctx(**overrides)
    ex3 = extract(ctx3, start, start + dt.timedelta(days=3) - dt.timedelta(microseconds=2))
    assert _load_and_check(ctx3, ex3.run_id).mismatched_first_pass == []
    assert image(target_dsn) == image(source_dsn)
    assert _journal(target_dsn, ctx3, ex3.run_id).get("U") == 1
