"""The extract's COPY moves rows in binary between PostgreSQL servers when every column has the
target's exact type, and in csv otherwise (GaussDB, a type that differs, a type whose binary form
names server-local numbers). Either way every value lands as the source holds it."""

from __future__ import annotations

import datetime as dt
import logging

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.extract import _binary_copy, extract
from gaussdb_batch.engine.load import run_lane

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)

WIDE_DDL = (
    "CREATE TABLE {t} (k bigint PRIMARY KEY, d date NOT NULL, i integer, s smallint, n numeric(12,3), r real,"
    " f double precision, b boolean, c char(6), v varchar(30), x text, ts timestamp(3), tz timestamptz,"
    " iv interval, by bytea, u uuid, j jsonb, tm time)"
)
TEXTS = ["plain", "a,b", 'quo"te', "new\nline", "back\\slash", "", None, "tab\there", "ünï©ødé"]


def _fill(dsn: str, t: str, n: int) -> None:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        for k in range(1, n + 1):
            x = TEXTS[k % len(TEXTS)]
            null = k % 7 == 0
            cur.execute(
                f"INSERT INTO {t} VALUES (%s, DATE '2024-01-02', %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s, %s, %s)",
                (k, None if null else -k * 1000, k % 300, None if null else f"{k}.{k % 1000:03d}", k / 3,
                 -k / 7, k % 2 == 0, None if null else x and x[:6], x, x,
                 dt.datetime(2024, 1, 2, 3, 4, 5, 123000), dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
                 dt.timedelta(days=k, seconds=7), None if null else bytes([k % 256, 0, 255]),
                 f"00000000-0000-0000-0000-{k:012d}", None if null else f'{{"k": {k}, "s": "a\\"b"}}',
                 dt.time(k % 24, 30)),
            )


def _rows(dsn: str, t: str) -> list[tuple]:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT * FROM {t} ORDER BY k")
        return cur.fetchall()


@pytest.mark.parametrize("load_path", ["landing", "auto"])
def test_every_value_lands_as_the_source_holds_it_in_binary_on_postgres_and_csv_on_gaussdb(
        dialect_name, load_path, make_ctx, schemas, source_dsn, target_dsn, caplog):
    """Landed first (binary on PostgreSQL, csv on GaussDB), or, for load_path auto, read by the lanes as
    key ranges and copied straight into the target (binary between PostgreSQL servers, csv to GaussDB)."""
    t = f'"{schemas["data"]}".wide'
    for dsn in (source_dsn, target_dsn):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute(WIDE_DDL.format(t=t))
    _fill(source_dsn, t, 250)
    ctx = make_ctx(source={"table": f"{schemas['data']}.wide", "interval_column": "d"},
                   target={"table": f"{schemas['data']}.wide"}, keys=["k"], chunk_rows=100, load_path=load_path)
    with caplog.at_level(logging.INFO, logger="gaussdb_batch.engine"):
        ex = extract(ctx, START, END)
    fmt = "binary" if dialect_name == "postgres" else "csv"
    said = "key ranges of k" if load_path == "auto" else f"with COPY ({fmt}) into a typed landing"
    assert any(said in r.getMessage() for r in caplog.records)
    run_lane(ctx, ex.run_id, 0)
    assert check_run(ctx, ex.run_id).mismatched_first_pass == []
    assert _rows(target_dsn, t) == _rows(source_dsn, t)


@pytest.mark.parametrize("source_type, target_type", [
    ("varchar(40)", "varchar(30)"),  # another modifier: csv, so the landing's check sees the text
    ("integer", "bigint"),           # another type: a binary int4 is no int8
    ("integer[]", "integer[]"),      # an array's binary form carries its element type's OID
], ids=["modifier", "type", "array"])
def test_a_column_whose_type_differs_or_is_not_binary_safe_moves_in_csv(
        source_type, target_type, make_ctx, schemas, source_dsn, target_dsn):
    t = f'"{schemas["data"]}".mixed'
    for dsn, ty in ((source_dsn, source_type), (target_dsn, target_type)):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute(f"CREATE TABLE {t} (k bigint PRIMARY KEY, d date NOT NULL, v {ty})")
    ctx = make_ctx(source={"table": f"{schemas['data']}.mixed", "interval_column": "d"},
                   target={"table": f"{schemas['data']}.mixed"}, keys=["k"], chunk_rows=100)
    ctx.prepare()
    assert _binary_copy(ctx, True) is False
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        v = "{1,2}" if source_type.endswith("[]") else "12"
        cur.execute(f"INSERT INTO {t} VALUES (1, DATE '2024-01-02', %s)", (v,))
    ex = extract(ctx, START, END)
    run_lane(ctx, ex.run_id, 0)
    assert check_run(ctx, ex.run_id).mismatched_first_pass == []
    assert _rows(target_dsn, t) == _rows(source_dsn, t)


def test_a_typed_landing_only_moves_in_binary(make_ctx, schemas, source_dsn, target_dsn):
    t = f'"{schemas["data"]}".same'
    for dsn in (source_dsn, target_dsn):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute(f"CREATE TABLE {t} (k bigint PRIMARY KEY, d date NOT NULL, v text)")
    ctx = make_ctx(source={"table": f"{schemas['data']}.same", "interval_column": "d"},
                   target={"table": f"{schemas['data']}.same"}, keys=["k"])
    ctx.prepare()
    assert _binary_copy(ctx, False) is False
    assert _binary_copy(ctx, True) is (ctx.dialect.name == "postgres")
