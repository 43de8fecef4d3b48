"""Issue 30, first slice: an upsert journals only what changes, and compensation stays exact.

A row already identical to its landed image is neither rewritten (its xmin stays) nor journaled; a
changed row journals its before-image ('U'), a new key its key ('I'), and a chunk that went through
the change capture is marked exact ('E'), so compensation deletes only the keys it journaled and
restores only the rows it changed. Both dialects (PostgreSQL's ON CONFLICT, GaussDB's MERGE).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from decimal import Decimal

import psycopg2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaussdb_batch.engine import state
from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.compensate import compensate_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.engine.state import REPAIR_LANE
from tests.integration.engine.conftest import control_rows

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)
DDL = ("CREATE TABLE {t} (k bigint PRIMARY KEY, d date NOT NULL, i integer, amount numeric, "
       "note text, code varchar(3))")
COLS = "k, d, i, amount, note, code"


def _exec(dsn: str, sql: str, params: tuple | list = ()) -> list[tuple]:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def _insert(dsn: str, t: str, rows: list[tuple]) -> None:
    if rows:
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.executemany(f"INSERT INTO {t} ({COLS}) VALUES (%s, %s, %s, %s, %s, %s)", rows)


def _image(dsn: str, t: str) -> list[tuple]:
    """The whole table, every value as its text (numeric scale, '' vs NULL and all)."""
    return _exec(dsn, f"SELECT k, d::text, i::text, amount::text, note, code FROM {t} ORDER BY k")


def _versions(dsn: str, t: str) -> dict[int, str]:
    return dict(_exec(dsn, f"SELECT k, xmin::text FROM {t}"))


def _journal(dsn: str, ctx, run_id: int) -> dict[str, int]:
    return dict(_exec(dsn, f"SELECT _gb_op, count(*) FROM {ctx.undo.sql} WHERE _gb_run_id = %s GROUP BY 1",
                      (run_id,)))


def _journal_keys(dsn: str, ctx, run_id: int, op: str) -> set[int]:
    return {r[0] for r in _exec(dsn, f"SELECT k FROM {ctx.undo.sql} WHERE _gb_run_id = %s AND _gb_op = %s",
                                (run_id, op))}


def _items(schemas, target_dsn, source_dsn) -> str:
    t = f'"{schemas["data"]}".items'
    _exec(target_dsn, DDL.format(t=t))
    _exec(source_dsn, DDL.format(t=t).replace("varchar(3)", "text"))  # the source may hold what the target cannot
    return t


def _spec(schemas, chunk_rows: int) -> dict:
    return {"source": {"table": f"{schemas['data']}.items", "interval_column": "d"},
            "target": {"table": f"{schemas['data']}.items"}, "keys": ["k"], "chunk_rows": chunk_rows}


def _row(k: int, day: dt.date, n: int) -> tuple:
    return (k, day, n % 3, Decimal(n) / 4, f"note {n}", "abc")


def test_an_upsert_of_identical_rows_journals_nothing_and_rewrites_nothing(make_ctx, schemas, source_dsn,
                                                                          target_dsn):
    t = _items(schemas, target_dsn, source_dsn)
    rows = [_row(k, dt.date(2024, 1, 1 + k % 3), k) for k in range(1, 301)]
    _insert(source_dsn, t, rows)
    _insert(target_dsn, t, rows)
    image, versions = _image(target_dsn, t), _versions(target_dsn, t)
    ctx = make_ctx(**_spec(schemas, 100))
    ex = extract(ctx, START, END)
    lane = run_lane(ctx, ex.run_id, 0)
    assert lane.rows_written == 300 and lane.rows_rejected == 0
    # No before-image, no key: only each chunk's exact mark. No row has a new version.
    assert _journal(target_dsn, ctx, ex.run_id) == {"E": 3}
    assert _versions(target_dsn, t) == versions
    counts = control_rows(target_dsn, schemas["control"], "SELECT sum(rows_written), sum(rows_inserted),"
                          " sum(rows_updated) FROM {c}.chunks WHERE run_id = %s", (ex.run_id,))
    assert [tuple(int(v) for v in r) for r in counts] == [(300, 0, 300)]
    assert check_run(ctx, ex.run_id).mismatched_first_pass == []
    # Compensation has nothing to undo: it neither deletes nor rewrites a row.
    result = compensate_run(ctx, ex.run_id, reason="test")
    assert (result.rows_deleted, result.rows_restored) == (0, 0)
    assert _image(target_dsn, t) == image and _versions(target_dsn, t) == versions


def test_a_mixed_chunk_compensates_exactly(make_ctx, schemas, source_dsn, target_dsn):
    """Chunks holding identical, changed (NULL vs 0, '' vs NULL, 1.0 vs 1.00) and new keys."""
    t = _items(schemas, target_dsn, source_dsn)
    day = dt.date(2024, 1, 2)
    source = [_row(k, day, k) for k in range(1, 201)]
    target = {k: _row(k, day, k) for k in range(1, 151)}
    target[3] = (3, day, None, Decimal("0.75"), "note 3", "abc")  # i: 0 at the source, NULL here
    target[7] = (7, day, 1, Decimal("1.75"), None, "abc")  # note: NULL here
    target[11] = (11, day, 2, Decimal("2.750"), "note 11", "abc")  # amount: 2.75 at the source
    target[120] = (120, day, 0, Decimal(30), "note 120", "")  # code: '' here
    source[120 - 1] = (120, day, 0, Decimal(30), "note 120", None)  # ... and NULL at the source
    target[130] = (130, day, 0, None, "note 130", "abc")  # amount NULL vs 32.5
    target[1000] = (1000, day, 0, Decimal(0), "outside the source", "xyz")  # in the interval, never landed
    _insert(source_dsn, t, source)
    _insert(target_dsn, t, list(target.values()))
    image, versions = _image(target_dsn, t), _versions(target_dsn, t)
    ctx = make_ctx(**_spec(schemas, 100))
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    assert _journal_keys(target_dsn, ctx, ex.run_id, "U") == {3, 7, 11, 120, 130}
    assert _journal_keys(target_dsn, ctx, ex.run_id, "I") == set(range(151, 201))
    assert _journal(target_dsn, ctx, ex.run_id)["E"] == 2
    after = _versions(target_dsn, t)
    assert {k for k in versions if after[k] != versions[k]} == {3, 7, 11, 120, 130}
    assert _image(target_dsn, t)[:200] == _image(source_dsn, t)
    compensate_run(ctx, ex.run_id, reason="test")
    assert _image(target_dsn, t) == image
    assert _versions(target_dsn, t) == {**versions, **{k: _versions(target_dsn, t)[k] for k in (3, 7, 11, 120, 130)}}


def test_a_reload_after_a_repair_compensates_exactly(make_ctx, schemas, source_dsn, target_dsn):
    """Tampered rows of a plain chunk and of an exact chunk (one left identical, one deleted, one changed,
    one inserted by the run) are reloaded by the check's repair; compensation still gives back the
    target as it was before the run."""
    t = _items(schemas, target_dsn, source_dsn)
    day = dt.date(2024, 1, 2)
    _insert(source_dsn, t, [_row(k, day, k) for k in range(1, 301)])
    target = [_row(k, day, k) for k in range(201, 281)] + [_row(k, day, k + 1) for k in range(281, 301)]
    _insert(target_dsn, t, target)
    image = _image(target_dsn, t)
    ctx = make_ctx(**_spec(schemas, 100))
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)  # chunks 1-2: plain INSERTs; chunk 3 (201..300): exact
    assert _journal(target_dsn, ctx, ex.run_id) == {"U": 20, "E": 1}
    _exec(target_dsn, f"UPDATE {t} SET note = 'tampered' WHERE k IN (50, 210, 290)")
    _exec(target_dsn, f"DELETE FROM {t} WHERE k = 220")
    result = check_run(ctx, ex.run_id)
    assert sorted(result.repaired) == [1, 3]
    # 210 and 220 were left identical by the first load: the reload journals their landed image,
    # which is their state before the run; 290's first before-image stays.
    assert _journal_keys(target_dsn, ctx, ex.run_id, "U") == set(range(281, 301)) | {210, 220}
    compensate_run(ctx, ex.run_id, reason="test repair")
    assert _image(target_dsn, t) == image


def test_a_reextract_after_exact_chunks_loaded_compensates_exactly(make_ctx, schemas, source_dsn, target_dsn):
    """Exact chunks (identical, changed and new rows) loaded, the attempt given up and extracted again
    from a changed source: the keys they left alone stay the target's, their marks go, and
    compensation gives back the target as it was before the run."""
    t = _items(schemas, target_dsn, source_dsn)
    day = dt.date(2024, 1, 2)
    _insert(source_dsn, t, [_row(k, day, k) for k in range(1, 401)])
    _insert(target_dsn, t, [_row(k, day, k) for k in range(1, 151)] + [_row(k, day, k + 1) for k in range(151, 181)])
    image = _image(target_dsn, t)
    ctx = make_ctx(**_spec(schemas, 100))
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0, max_chunks=2)  # 1..100 identical; 101..200: 50 identical, 30 changed, 20 new
    assert _journal(target_dsn, ctx, ex.run_id) == {"U": 30, "I": 20, "E": 2}
    state.fail(ctx, ex.run_id, "given up mid-load (test)")
    _exec(source_dsn, f"UPDATE {t} SET note = 'changed at the source' WHERE k %% 3 = 0")
    assert extract(ctx, START, END).run_id == ex.run_id
    # Nothing to add (the exact chunks journaled their new keys), and the marks are gone.
    assert _journal(target_dsn, ctx, ex.run_id) == {"U": 30, "I": 20}
    run_lane(ctx, ex.run_id, 0)
    check_run(ctx, ex.run_id)
    compensate_run(ctx, ex.run_id, reason="test re-extract")
    assert _image(target_dsn, t) == image


# -- property: generated mixes of identical, changed and new rows compensate exactly ------------------

#: The adversarial classes too: sign, NULL vs 0 or '', NaN, 32-bit extremes and their 64-bit fold
#: partners' halves, case and trailing space under the column's collation.
_INTS = st.sampled_from([None, 0, 1, -1, 2**31 - 1, -2**31])
_AMOUNTS = st.sampled_from([None, Decimal("0"), Decimal("0.0"), Decimal("-0"), Decimal("1.0"), Decimal("1.00"),
                            Decimal("-0.5"), Decimal("0.5"), Decimal("NaN"), Decimal(2**63 - 1), Decimal(-2**63)])
_NOTES = st.sampled_from([None, "", " ", "a", "a ", "A", "\u00e9", "e\u0301"])
#: 'abcd' does not fit varchar(3): a bad row the load rejects (bisecting its chunk).
_CODES = st.sampled_from([None, "", "x", "abc", "abcd"])
_VALUES = st.tuples(_INTS, _AMOUNTS, _NOTES, _CODES)
#: Per key: its source values (None: not at the source), its target values (None: not in the
#: target; "same": identical to the source's) and whether the target row is tampered after the load.
_KEY = st.tuples(st.one_of(st.none(), _VALUES), st.one_of(st.none(), st.just("same"), _VALUES), st.booleans())
EXAMPLES = settings(max_examples=int(os.environ.get("GB_JOURNAL_EXAMPLES", "20")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@EXAMPLES
@given(keys=st.lists(_KEY, min_size=1, max_size=30), chunk_rows=st.sampled_from([3, 7, 50]),
       repair=st.booleans())
def test_compensation_restores_the_exact_state_before_any_mix(make_ctx, schemas, source_dsn, target_dsn,
                                                              keys, chunk_rows, repair):
    t = f'"{schemas["data"]}".items'
    if not _exec(target_dsn, "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'items'",
                 (schemas["data"],)):
        _items(schemas, target_dsn, source_dsn)
    n = next(_EXAMPLE)  # every example has its own keys and its own interval
    start = START + dt.timedelta(days=10 * n)
    day = start.date() + dt.timedelta(days=1)
    source, target = [], []
    for i, (src, tgt, _) in enumerate(keys):
        k = 100 * n + i
        if src is not None:
            source.append((k, day, *src))
        if tgt is not None:
            values = src if tgt == "same" and src is not None else (None, None, "only here", "t")
            values = tgt if isinstance(tgt, tuple) else values
            target.append((k, day, *(v if v != "abcd" else "abc" for v in values)))
    _insert(source_dsn, t, source)
    _insert(target_dsn, t, target)
    image = _image(target_dsn, t)
    ctx = make_ctx(**_spec(schemas, chunk_rows), max_rejects=1000)
    try:
        ex = extract(ctx, start, start + dt.timedelta(days=3))
        run_lane(ctx, ex.run_id, 0)
        if repair:
            # Rows the run wrote or left identical (a rejected row's is none of its business).
            tampered = [100 * n + i for i, (src, _, tamper) in enumerate(keys)
                        if tamper and src is not None and src[3] != "abcd"]
            if tampered:
                _exec(target_dsn, f"UPDATE {t} SET note = 'tampered' WHERE k = ANY(%s)", (tampered,))
            chunks = [r[0] for r in control_rows(target_dsn, schemas["control"], "SELECT chunk_no FROM {c}.chunks"
                                                 " WHERE run_id = %s AND chunk_no > 0", (ex.run_id,))]
            state.reset_for_reload(ctx, ex.run_id, chunks)
            run_lane(ctx, ex.run_id, lane=REPAIR_LANE)
        compensate_run(ctx, ex.run_id, reason="property")
        assert _image(target_dsn, t) == image
    finally:
        ctx.close()


_EXAMPLE = itertools.count(1)
