"""The check cannot be fooled: each corruption ETL jobs really produce, made to one loaded target row,
is a MISMATCH of the chunk that holds it, and the repair leaves the target equal to the source.

Runs in the postgres dialect and in the gaussdb dialect under the openGauss semantics mode. The
table has the types whose pg_catalog hash functions have blind spots (numeric sign, 0 vs NULL, NaN vs
Infinity, 64-bit and timestamp folds) and a string column under a nondeterministic, case-insensitive
collation (which the landing column does not carry).
"""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.engine.state import PURGE_CHUNK

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)
ROWS, CHUNK = 300, 100

DDL = """
CREATE TABLE {t} (
    k bigint PRIMARY KEY,
    day date NOT NULL,
    n numeric(15,2),
    u numeric,
    f double precision,
    big bigint,
    ts timestamp,
    tz timestamptz,
    s text,
    ci varchar(20) COLLATE gb_ci
)
"""
FILL = """
INSERT INTO {t}
SELECT k, DATE '2024-01-01' + (k %% 3),
       CASE WHEN k %% 10 = 0 THEN 0 WHEN k %% 7 = 0 THEN NULL ELSE k * 1.5 END,
       CASE WHEN k = 40 THEN 'NaN'::numeric WHEN k = 41 THEN 'Infinity'::numeric ELSE k END,
       CASE WHEN k = 33 THEN 'NaN'::float8 WHEN k = 34 THEN 'Infinity'::float8 ELSE k * 0.25 END,
       k * 1000, TIMESTAMP '2024-01-01' + k * interval '1 second',
       TIMESTAMPTZ '2024-01-01 00:00:00+00' + k * interval '1 minute',
       CASE WHEN k %% 5 = 0 THEN '' ELSE 'row ' || k END, 'Name ' || k
FROM generate_series(1, %s) k
"""

#: (name, statement on the target, the chunk that must mismatch). Keys 1..300 land in seq order:
#: key k is in chunk (k - 1) // 100 + 1.
TAMPERS = [
    ("numeric negated", "UPDATE {t} SET n = -n WHERE k = 151", 2),
    ("numeric 0 to NULL", "UPDATE {t} SET n = NULL WHERE k = 150", 2),
    ("numeric NULL to 0", "UPDATE {t} SET n = 0 WHERE k = 147", 2),
    ("numeric NaN to Infinity", "UPDATE {t} SET u = 'Infinity' WHERE k = 40", 1),
    ("numeric Infinity to -Infinity", "UPDATE {t} SET u = '-Infinity' WHERE k = 41", 1),
    ("double NaN to Infinity", "UPDATE {t} SET f = 'Infinity' WHERE k = 33", 1),
    ("double Infinity to -Infinity", "UPDATE {t} SET f = '-Infinity' WHERE k = 34", 1),
    ("bigint 2**32 fold", "UPDATE {t} SET big = 4294967296 + (big # 1) WHERE k = 151", 2),
    # hashint8/timestamp_hash fold the high 32 bits of the microseconds into the low ones: the
    # partner whose halves both have their lowest bit flipped collides there (an hour and 11 minutes off).
    ("timestamp 2**32 fold", "UPDATE {t} SET ts = {fold_ts} WHERE k = 251", 3),
    ("timestamptz 2**32 fold", "UPDATE {t} SET tz = {fold_tz} WHERE k = 251", 3),
    ("trailing space", "UPDATE {t} SET s = s || ' ' WHERE k = 151", 2),
    ("'' to NULL", "UPDATE {t} SET s = NULL WHERE k = 155", 2),
    ("case under a case-insensitive collation", "UPDATE {t} SET ci = upper(ci) WHERE k = 151", 2),
    ("missing row", "DELETE FROM {t} WHERE k = 151", 2),
]
#: delete_insert owns the whole interval: rows the source does not have are mismatches too.
INTERVAL_TAMPERS = [
    ("extra row in the interval",
     "INSERT INTO {t} (k, day, s) VALUES (100000, DATE '2024-01-02', 'extra')", [PURGE_CHUNK]),
    ("key moved to a key the source does not have", "UPDATE {t} SET k = 100001 WHERE k = 151", [PURGE_CHUNK, 2]),
]


@pytest.fixture
def items(schemas, target_dsn, source_dsn):
    t = f'"{schemas["data"]}".items'
    for dsn in (source_dsn, target_dsn):
        c = psycopg2.connect(dsn)
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute("DO $$ BEGIN CREATE COLLATION gb_ci (provider = icu, locale = 'und-u-ks-level2', "
                        "deterministic = false); EXCEPTION WHEN duplicate_object THEN NULL; END $$")
            cur.execute(DDL.format(t=t))
        c.close()
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.execute(FILL.format(t=t), (ROWS,))
    return t


def _oracle(dsn: str, table: str) -> tuple[int, str]:
    """Count and digest of the interval's rows, byte for byte (test-side)."""
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(f"SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') "
                    f"FROM {table} t WHERE day >= %s AND day < %s", (START.date(), END.date()))
        return cur.fetchone()


def _load(make_ctx, schemas, mode: str):
    ctx = make_ctx(mode=mode, chunk_rows=CHUNK, keys=["k"],
                   source={"table": f"{schemas['data']}.items", "interval_column": "day"},
                   target={"table": f"{schemas['data']}.items", "interval_column": "day"})
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    return ctx, ex.run_id


def _fold_partner(expr: str) -> str:
    """SQL: the timestamp whose microseconds since 2000 have both 32-bit halves' lowest bit flipped."""
    us = f"CAST(round(extract(epoch FROM {expr} - TIMESTAMP '2000-01-01') * 1000000) AS bigint)"
    partner = f"((({us} >> 32) # 1) << 32) | (({us} & 4294967295) # 1)"
    return f"TIMESTAMP '2000-01-01' + ({partner}) * interval '1 microsecond'"


def _tamper(target_dsn: str, table: str, sql: str) -> None:
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        for stmt in sql.split(";"):
            cur.execute(stmt.format(t=table, fold_ts=_fold_partner("ts"),
                                    fold_tz=f"({_fold_partner('(tz AT TIME ZONE ' + chr(39) + 'UTC' + chr(39) + ')')})"
                                            " AT TIME ZONE 'UTC'"))


@pytest.mark.parametrize("name,sql,chunk", TAMPERS, ids=[t[0] for t in TAMPERS])
def test_each_corruption_is_a_mismatch_and_the_repair_restores_the_source(
        make_ctx, schemas, items, source_dsn, target_dsn, dialect_name, name, sql, chunk):
    ctx, run_id = _load(make_ctx, schemas, "upsert")
    assert _oracle(target_dsn, items) == _oracle(source_dsn, items)
    _tamper(target_dsn, items, sql)
    assert _oracle(target_dsn, items) != _oracle(source_dsn, items)
    result = check_run(ctx, run_id)
    assert result.mismatched_first_pass == [chunk], name
    assert _oracle(target_dsn, items) == _oracle(source_dsn, items)


def test_a_clean_run_matches_in_every_chunk(make_ctx, schemas, items, target_dsn, dialect_name):
    ctx, run_id = _load(make_ctx, schemas, "delete_insert")
    assert check_run(ctx, run_id).mismatched_first_pass == []


@pytest.mark.parametrize("name,sql,chunks", INTERVAL_TAMPERS, ids=[t[0] for t in INTERVAL_TAMPERS])
def test_delete_insert_compares_the_whole_interval(make_ctx, schemas, items, source_dsn, target_dsn, dialect_name,
                                                   name, sql, chunks):
    ctx, run_id = _load(make_ctx, schemas, "delete_insert")
    _tamper(target_dsn, items, sql)
    result = check_run(ctx, run_id)
    assert result.mismatched_first_pass == chunks, name
    # The repair deleted the rows the source does not have and reloaded the landed ones.
    assert _oracle(target_dsn, items) == _oracle(source_dsn, items)


def test_upsert_leaves_rows_the_run_did_not_land_alone(make_ctx, schemas, items, source_dsn, target_dsn, dialect_name):
    """In upsert mode a target row whose key the run did not land is not the run's business."""
    ctx, run_id = _load(make_ctx, schemas, "upsert")
    _tamper(target_dsn, items, INTERVAL_TAMPERS[0][1])
    assert check_run(ctx, run_id).mismatched_first_pass == []
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {items} WHERE k = 100000")
        assert cur.fetchone()[0] == 1
