"""An upsert leaves a target row that is already identical to the landed one as it is (no new row
version, no journal entry; both dialects), rewrites and journals every row that differs (numeric 1.0
vs 1.00 included), counts every landed row as written, and compensation still restores the state
before the run."""

from __future__ import annotations

import datetime as dt

import psycopg2

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run, finalize_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from tests.integration.engine.conftest import control_rows, fingerprint

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)
DDL = "CREATE TABLE {t} (k bigint PRIMARY KEY, d date NOT NULL, amount numeric, doc json, note text)"


def _exec(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def _versions(dsn: str, t: str) -> dict[int, str]:
    """Each row's xmin: the transaction that wrote its current version."""
    return dict(_exec(dsn, f"SELECT k, xmin::text FROM {t}"))


def test_identical_rows_are_left_as_they_are_and_changed_ones_rewritten(dialect_name, make_ctx, schemas,
                                                                       source_dsn, target_dsn):
    t = f'"{schemas["data"]}".items'
    for dsn in (source_dsn, target_dsn):
        _exec(dsn, DDL.format(t=t))
    _exec(source_dsn, f"INSERT INTO {t} SELECT k, DATE '2024-01-02', 1.0, '{{\"a\": 1}}', 'n' || k"
                      " FROM generate_series(1, 250) k")
    spec = {"source": {"table": f"{schemas['data']}.items", "interval_column": "d"},
            "target": {"table": f"{schemas['data']}.items"}, "keys": ["k"], "chunk_rows": 100}
    ctx = make_ctx(**spec)
    first = extract(ctx, START, END)
    run_lane(ctx, first.run_id, 0)
    check_run(ctx, first.run_id)
    finalize_run(ctx, first.run_id)
    before, state_before = _versions(target_dsn, t), fingerprint(target_dsn, t)

    # At the source: one amount keeps its value but not its scale, one json document and one
    # note change; key 251 is new. Everything else is what the target already holds.
    _exec(source_dsn, f"UPDATE {t} SET amount = 1.00 WHERE k = 10")
    _exec(source_dsn, f"UPDATE {t} SET doc = '{{\"a\":  1}}' WHERE k = 120")
    _exec(source_dsn, f"UPDATE {t} SET note = 'changed' WHERE k = 230")
    _exec(source_dsn, f"INSERT INTO {t} VALUES (251, DATE '2024-01-02', 2, NULL, NULL)")
    ctx2 = make_ctx(**spec)
    second = extract(ctx2, START, END)
    lane = run_lane(ctx2, second.run_id, 0)
    assert lane.rows_written == 251 and lane.rows_rejected == 0
    counts = control_rows(target_dsn, schemas["control"], "SELECT sum(rows_written), sum(rows_inserted),"
                          " sum(rows_updated) FROM {c}.chunks WHERE run_id = %s AND chunk_no > 0", (second.run_id,))
    assert [tuple(int(v) for v in row) for row in counts] == [(251, 1, 250)]
    assert check_run(ctx2, second.run_id).mismatched_first_pass == []
    assert _exec(target_dsn, f"SELECT k, amount::text, doc::text, note FROM {t} ORDER BY k") == \
        _exec(source_dsn, f"SELECT k, amount::text, doc::text, note FROM {t} ORDER BY k")
    after = _versions(target_dsn, t)
    rewritten = {k for k in before if after[k] != before[k]}
    assert rewritten == {10, 120, 230}  # GaussDB's MERGE too: its source leaves identical rows out
    # Only what changed is journaled: three before-images, the new key, and each chunk's exact mark.
    journal = dict(_exec(target_dsn, f"SELECT _gb_op, count(*) FROM {ctx2.undo.sql} WHERE _gb_run_id = %s"
                                     " GROUP BY 1", (second.run_id,)))
    assert journal == {"U": 3, "I": 1, "E": 3}
    assert sorted(r[0] for r in _exec(target_dsn, f"SELECT k FROM {ctx2.undo.sql} WHERE _gb_run_id = %s"
                                                  " AND _gb_op = 'U'", (second.run_id,))) == [10, 120, 230]
    assert fingerprint(target_dsn, t) == fingerprint(source_dsn, t)

    compensate_run(ctx2, second.run_id, reason="test")
    assert fingerprint(target_dsn, t) == state_before
    assert _exec(target_dsn, f"SELECT amount::text FROM {t} WHERE k = 10") == [("1.0",)]
