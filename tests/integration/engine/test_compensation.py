"""Compensation restores the exact pre-run target; the check repairs tampered chunks; manual rollback."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run, finalize_run
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from tests.integration.engine.conftest import control_rows, fingerprint, interval_fingerprint, make_orders

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)


def _fill(dsn, table, n, **kw):
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        make_orders(cur, table, n, **kw)


def _exec(dsn, sql, params=()):
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(sql, params)


def _rows(dsn, table) -> dict[int, tuple]:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT * FROM {table}")
        return {r[0]: r for r in cur.fetchall()}


def _journal_keys(dsn, ctx, run_id, op) -> set[int]:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT o_orderkey FROM {ctx.undo.sql} WHERE _gb_run_id = %s AND _gb_op = %s", (run_id, op))
        return {r[0] for r in cur.fetchall()}


def _journal(dsn, ctx, run_id) -> dict[str, int]:
    """Journal entries of a run by op."""
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT _gb_op, count(*) FROM {ctx.undo.sql} WHERE _gb_run_id = %s GROUP BY 1", (run_id,))
        return dict(cur.fetchall())


@pytest.mark.parametrize("kind", ["insert_only", "update_only", "mixed", "partial"])
def test_compensation_restores_the_fingerprint_from_before_the_run(kind, make_ctx, orders, source_dsn, target_dsn):
    _fill(source_dsn, orders, 900)
    if kind == "update_only":
        _fill(target_dsn, orders, 900)  # every key exists: the run only overwrites
        _exec(target_dsn, f"UPDATE {orders} SET o_comment = 'old', o_status = NULL, o_totalprice = o_totalprice + 1")
    elif kind in ("mixed", "partial"):
        _fill(target_dsn, orders, 400, start_key=700)  # keys 700..900 overlap, 901..1099 untouched
        _exec(target_dsn, f"UPDATE {orders} SET o_comment = NULL WHERE o_orderkey %% 2 = 0")
    before = fingerprint(target_dsn, orders)
    source_rows, target_rows = _rows(source_dsn, orders), _rows(target_dsn, orders)
    differing = {k for k, row in source_rows.items() if k in target_rows and target_rows[k] != row}
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0, max_chunks=3 if kind == "partial" else None)
    assert fingerprint(target_dsn, orders) != before
    # The journal holds before-images of the rows that differed, never of rows already identical; a
    # chunk of new keys written by a plain INSERT journals nothing (its keys are in the landing).
    journaled = _journal(target_dsn, ctx, ex.run_id)
    if kind in ("insert_only", "partial"):
        assert journaled == {}
    elif kind == "update_only":
        assert journaled == {"U": 900, "E": 9}
    else:  # keys 1..600 go plain; chunk 7 meets key 700 and journals its 99 new keys; chunks 7-9 are exact
        assert journaled == {"I": 99, "U": len(differing), "E": 3} and 0 < len(differing) < 201
        assert _journal_keys(target_dsn, ctx, ex.run_id, "U") == differing
    result = compensate_run(ctx, ex.run_id, reason=f"test {kind}")
    assert fingerprint(target_dsn, orders) == before
    if kind == "insert_only":
        assert result.rows_restored == 0
    if kind == "update_only":
        assert result.rows_restored == result.rows_deleted == 900
    again = compensate_run(ctx, ex.run_id)
    assert again.already_compensated and fingerprint(target_dsn, orders) == before


def test_tampered_chunk_fails_the_first_pass_is_reloaded_and_then_matches(make_ctx, orders, source_dsn, target_dsn, schemas):
    _fill(source_dsn, orders, 900)
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    # Behind the loader's back: one row changed, one deleted, in two different chunks.
    _exec(target_dsn, f"UPDATE {orders} SET o_comment = 'tampered' WHERE o_orderkey = 5")
    _exec(target_dsn, f"DELETE FROM {orders} WHERE o_orderkey = 600")
    result = check_run(ctx, ex.run_id)
    assert len(result.mismatched_first_pass) == 2
    recon = control_rows(target_dsn, schemas["control"],
                         "SELECT chunk_no, pass, status FROM {c}.reconciliation WHERE run_id = %s AND status = 'MISMATCH'",
                         (ex.run_id,))
    assert sorted(no for no, _, _ in recon) == sorted(result.mismatched_first_pass)
    second = control_rows(target_dsn, schemas["control"],
                          "SELECT status FROM {c}.reconciliation WHERE run_id = %s AND pass = 2", (ex.run_id,))
    assert second == [("MATCH",), ("MATCH",)]
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, START, END)


def test_check_fails_naming_the_chunk_when_repair_cannot_fix_it(make_ctx, orders, source_dsn, target_dsn):
    _fill(source_dsn, orders, 300)
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    # A trigger that corrupts every rewrite of key 42: the reload cannot converge.
    _exec(target_dsn, "CREATE OR REPLACE FUNCTION pg_temp_corrupt() RETURNS trigger LANGUAGE plpgsql AS "
                      "$$ BEGIN IF NEW.o_orderkey = 42 THEN NEW.o_comment := 'corrupt'; END IF; RETURN NEW; END $$")
    _exec(target_dsn, f"CREATE TRIGGER corrupt BEFORE INSERT OR UPDATE ON {orders} FOR EACH ROW EXECUTE FUNCTION pg_temp_corrupt()")
    _exec(target_dsn, f"UPDATE {orders} SET o_comment = o_comment WHERE o_orderkey = 42")
    with pytest.raises(PermanentBatchError, match=r"chunk 1 keys 1\.\.\d+: 100 landed vs 100 in target"):
        check_run(ctx, ex.run_id)


def test_manual_rollback_of_a_finished_run_and_refusal_when_later_runs_touched_its_keys(
        make_ctx, orders, source_dsn, target_dsn):
    _fill(source_dsn, orders, 300)
    _fill(target_dsn, orders, 100, start_key=250)
    original = fingerprint(target_dsn, orders)
    ctx = make_ctx(chunk_rows=100)

    def full_run():
        ex = extract(ctx, START, END)
        run_lane(ctx, ex.run_id, 0)
        check_run(ctx, ex.run_id)
        finalize_run(ctx, ex.run_id)
        return ex.run_id

    first = full_run()
    _exec(source_dsn, f"UPDATE {orders} SET o_comment = 'changed at source' WHERE o_orderkey <= 10")
    after_first = fingerprint(target_dsn, orders)
    second = full_run()  # same interval again: a new attempt that touches the same keys
    assert second != first
    with pytest.raises(PermanentBatchError, match=rf"later runs \[{second}\]"):
        compensate_run(ctx, first, manual=True)
    compensate_run(ctx, second, manual=True)
    assert fingerprint(target_dsn, orders) == after_first
    compensate_run(ctx, first, manual=True)
    assert fingerprint(target_dsn, orders) == original


@pytest.mark.parametrize("prefilled", [False, True], ids=["inserted_only", "inserted_and_updated"])
def test_compensation_after_a_reextract_of_a_partly_loaded_attempt_is_exact(prefilled, make_ctx, orders, source_dsn,
                                                                             target_dsn):
    """Rows loaded from a landing that a re-extract replaced are still undone (their keys move to the journal)."""
    from gaussdb_batch.engine import state

    _fill(source_dsn, orders, 600)
    if prefilled:
        _fill(target_dsn, orders, 300, start_key=400)  # 400..600 overlap, 601..699 untouched
        _exec(target_dsn, f"UPDATE {orders} SET o_comment = 'before'")
    before = fingerprint(target_dsn, orders)
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0, max_chunks=2)
    state.fail(ctx, ex.run_id, "given up mid-load (test)")
    _exec(source_dsn, f"UPDATE {orders} SET o_comment = 'changed at the source'")
    assert extract(ctx, START, END).run_id == ex.run_id  # the FAILED attempt is extracted again
    # Chunks 1-2 held keys 1..200, all inserted by the run: their keys are journaled before the landing goes.
    assert _journal(target_dsn, ctx, ex.run_id).get("I") == 200
    run_lane(ctx, ex.run_id, 0)
    check_run(ctx, ex.run_id)
    compensate_run(ctx, ex.run_id, reason="test re-extract")
    assert fingerprint(target_dsn, orders) == before


def test_compensation_after_a_repair_restores_the_pre_run_target(make_ctx, orders, source_dsn, target_dsn):
    """A reloaded chunk journals nothing new: the rows it now finds are the run's own."""
    _fill(source_dsn, orders, 500)
    _fill(target_dsn, orders, 200, start_key=401)  # 401..500 overlap
    _exec(target_dsn, f"UPDATE {orders} SET o_comment = 'before'")
    before = fingerprint(target_dsn, orders)
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    _exec(target_dsn, f"UPDATE {orders} SET o_comment = 'tampered' WHERE o_orderkey IN (5, 450)")
    result = check_run(ctx, ex.run_id)
    assert sorted(result.repaired) == [1, 5]
    assert _journal(target_dsn, ctx, ex.run_id) == {"U": 100, "E": 1}  # chunk 5 (401..500) is exact
    compensate_run(ctx, ex.run_id, reason="test repair")
    assert fingerprint(target_dsn, orders) == before
