"""The check's repair step: mismatched chunks are reset, reloaded on the repair lane and compared
again; the result says which the reload fixed, and a chunk it cannot fix fails the check by name."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.check import CheckFailed, check_run
from gaussdb_batch.engine.choices import Match
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.engine.state import REPAIR_LANE
from tests.integration.engine.conftest import make_orders

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)


def _loaded(make_ctx, orders, source_dsn):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 600)
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    return ctx, ex.run_id


def _chunk_lanes(target_dsn, control, run_id) -> dict[int, int]:
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f'SELECT chunk_no, lane FROM "{control}".chunks WHERE run_id = %s', (run_id,))
        return dict(cur.fetchall())


def _passes(target_dsn, control, run_id) -> list[tuple[int, int, str]]:
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f'SELECT pass, chunk_no, status FROM "{control}".reconciliation WHERE run_id = %s '
                    "AND (pass = 2 OR status <> %s) ORDER BY pass, chunk_no", (run_id, Match.MATCH.value))
        return cur.fetchall()


def test_the_repair_reloads_mismatched_chunks_on_the_repair_lane(make_ctx, orders, source_dsn, target_dsn, schemas):
    ctx, run_id = _loaded(make_ctx, orders, source_dsn)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:  # change one row in two chunks
        cur.execute(f"UPDATE {orders} SET o_totalprice = o_totalprice + 1 WHERE o_orderkey IN (150, 420)")
    result = check_run(ctx, run_id)
    assert (result.mismatched_first_pass, result.repaired, result.still_different) == ([2, 5], [2, 5], [])
    lanes = _chunk_lanes(target_dsn, schemas["control"], run_id)
    assert {no for no, lane in lanes.items() if lane == REPAIR_LANE} == {2, 5}
    assert _passes(target_dsn, schemas["control"], run_id) == [
        (1, 2, Match.MISMATCH), (1, 5, Match.MISMATCH), (2, 2, Match.MATCH), (2, 5, Match.MATCH)]


def test_a_chunk_the_reload_cannot_fix_fails_the_check_by_name(make_ctx, orders, source_dsn, target_dsn, schemas):
    ctx, run_id = _loaded(make_ctx, orders, source_dsn)
    schema = schemas["data"]
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        # A trigger that changes key 150 on every write: its reload writes the wrong price again.
        cur.execute(f'CREATE FUNCTION "{schema}".skew() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
                    "IF NEW.o_orderkey = 150 THEN NEW.o_totalprice := NEW.o_totalprice + 1; END IF; "
                    "RETURN NEW; END $$")
        cur.execute(f'CREATE TRIGGER skew BEFORE INSERT OR UPDATE ON {orders} FOR EACH ROW '
                    f'EXECUTE FUNCTION "{schema}".skew()')
        cur.execute(f"UPDATE {orders} SET o_totalprice = o_totalprice + 1 WHERE o_orderkey IN (150, 420)")
    with pytest.raises(CheckFailed, match=r"after repair: chunk 2 keys") as failed:
        check_run(ctx, run_id)
    result = failed.value.result
    assert (result.mismatched_first_pass, result.repaired, result.still_different) == ([2, 5], [5], [2])
