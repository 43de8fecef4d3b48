"""The landing has the target's types; a value that does not fit lands the run as text instead.

Either way the check compares values as the target stores them: a char(n) column's trailing
spaces and empty strings reconcile, and the text path's bad rows are isolated at load.
"""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from tests.integration.engine.conftest import control_rows, fingerprint

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)

SOURCE_DDL = "CREATE TABLE {t} (k bigint PRIMARY KEY, d date NOT NULL, code text, amount text, note varchar(20))"
TARGET_DDL = ("CREATE TABLE {t} (k bigint PRIMARY KEY, d date NOT NULL, code char(5), amount numeric(10,2), "
              "note varchar(20))")
# 'ab ' and '' into char(5): the target stores them padded, and a text cast drops the padding.
CODES = ["ab ", "", "abcde", None, "x  "]


def _setup(source_dsn, target_dsn, schema, *, bad_amount: bool) -> str:
    t = f'"{schema}".items'
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(TARGET_DDL.format(t=t))
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.execute(SOURCE_DDL.format(t=t))
        for k in range(1, 301):
            amount = "not a number" if bad_amount and k == 77 else f"{k}.5"
            cur.execute(f"INSERT INTO {t} VALUES (%s, DATE '2024-01-02', %s, %s, %s)",
                        (k, CODES[k % len(CODES)], amount, "" if k % 4 == 0 else f"n{k}"))
    return t


def _spec(schema):
    return {"source": {"table": f"{schema}.items", "interval_column": "d"},
            "target": {"table": f"{schema}.items"}, "keys": ["k"], "chunk_rows": 50}


@pytest.mark.parametrize("bad_amount", [False, True], ids=["typed", "text_fallback"])
def test_char_padding_and_empty_strings_reconcile_in_both_landings(bad_amount, make_ctx, schemas, source_dsn,
                                                                   target_dsn):
    t = _setup(source_dsn, target_dsn, schemas["data"], bad_amount=bad_amount)
    ctx = make_ctx(**_spec(schemas["data"]), max_rejects=1 if bad_amount else 0)
    ex = extract(ctx, START, END)
    # A value the target's type rejects makes the typed COPY fail: that run lands as text.
    assert ctx.landing_layout(ex.run_id) is (not bad_amount)
    landing = ctx.landing(ex.run_id)
    kinds = dict(control_rows(target_dsn, schemas["control"],
                              "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                              "WHERE a.attrelid = %s::regclass AND a.attnum > 0", (landing.sql,)))
    assert kinds["code"] == ("character(5)" if not bad_amount else "text")
    run_lane(ctx, ex.run_id, 0)
    result = check_run(ctx, ex.run_id)
    assert result.mismatched_first_pass == []
    statuses = control_rows(target_dsn, schemas["control"],
                            "SELECT DISTINCT status FROM {c}.reconciliation WHERE run_id = %s", (ex.run_id,))
    assert statuses == [("MATCH",)]
    rejects = control_rows(target_dsn, schemas["control"],
                           "SELECT key_text, sqlstate FROM {c}.rejects WHERE run_id = %s", (ex.run_id,))
    assert rejects == ([("77", "22P02")] if bad_amount else [])
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*), count(*) FILTER (WHERE code = 'ab') FROM {t}")
        assert cur.fetchone() == (300 - bad_amount, 60 - (bad_amount and 77 % 5 == 1))


@pytest.mark.parametrize("bad_amount", [False, True], ids=["typed", "text_fallback"])
def test_a_changed_char_value_is_still_caught(bad_amount, make_ctx, schemas, source_dsn, target_dsn):
    t = _setup(source_dsn, target_dsn, schemas["data"], bad_amount=bad_amount)
    ctx = make_ctx(**_spec(schemas["data"]), max_rejects=1)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"UPDATE {t} SET code = 'ab' || chr(9) WHERE k = 1")  # 'ab\t' vs 'ab ' (k=1 has 'ab ')
    result = check_run(ctx, ex.run_id)
    assert result.mismatched_first_pass == [1] and result.repaired == [1]


def test_compensation_of_a_text_fallback_run_is_exact(make_ctx, schemas, source_dsn, target_dsn):
    t = _setup(source_dsn, target_dsn, schemas["data"], bad_amount=True)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"INSERT INTO {t} SELECT k, DATE '2024-01-02', 'old', 1, 'old' FROM generate_series(250, 400) k")
    before = fingerprint(target_dsn, t)
    ctx = make_ctx(**_spec(schemas["data"]), max_rejects=1)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    compensate_run(ctx, ex.run_id, reason="test")
    assert fingerprint(target_dsn, t) == before


def test_the_plan_stores_the_landing_side_and_load_rejects_are_taken_out(make_ctx, schemas, source_dsn, target_dsn):
    """A typed landing's fingerprints are computed once at plan time; rows rejected at load leave them."""
    t = _setup(source_dsn, target_dsn, schemas["data"], bad_amount=False)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        # Values every type accepts but the target refuses: rejected one by one at load.
        cur.execute(f"ALTER TABLE {t} ADD CONSTRAINT small_amount CHECK (amount < 290)")
    ctx = make_ctx(**_spec(schemas["data"]), max_rejects=20)
    ex = extract(ctx, START, END)
    assert ctx.landing_layout(ex.run_id) is True
    stored = control_rows(target_dsn, schemas["control"],
                          "SELECT chunk_no, land_rows FROM {c}.chunks WHERE run_id = %s ORDER BY chunk_no", (ex.run_id,))
    assert stored == [(n, 50) for n in range(1, 7)]
    run_lane(ctx, ex.run_id, 0)
    result = check_run(ctx, ex.run_id)
    assert result.mismatched_first_pass == [] and result.rows == 289
    rejects = control_rows(target_dsn, schemas["control"],
                           "SELECT count(*), min(sqlstate) FROM {c}.rejects WHERE run_id = %s", (ex.run_id,))
    assert rejects == [(11, "23514")]
    assert control_rows(target_dsn, schemas["control"],
                        "SELECT chunk_no, source_rows FROM {c}.reconciliation WHERE run_id = %s AND chunk_no = 6",
                        (ex.run_id,)) == [(6, 39)]


def test_the_check_reads_the_stored_landing_side(make_ctx, schemas, source_dsn, target_dsn):
    """The landing is not scanned again: a stored figure that is off shows as that chunk's mismatch."""
    from gaussdb_batch.engine.errors import PermanentBatchError

    _setup(source_dsn, target_dsn, schemas["data"], bad_amount=False)
    ctx = make_ctx(**_spec(schemas["data"]))
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f'UPDATE "{schemas["control"]}".chunks SET land_hash = land_hash + 1 WHERE run_id = %s'
                    " AND chunk_no = 2", (ex.run_id,))
    with pytest.raises(PermanentBatchError, match="chunk 2 "):
        check_run(ctx, ex.run_id)
