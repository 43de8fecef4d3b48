"""Bad rows never stop good rows: each kind lands in rejects with its SQLSTATE, every good row loads."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.operators.batch import PERMANENT_ERRORS
from tests.integration.engine.conftest import control_rows

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 2, tzinfo=UTC)

DDL = """
CREATE TABLE {s}.parent (id integer PRIMARY KEY);
INSERT INTO {s}.parent VALUES (1), (2);
CREATE TABLE {s}.items (
    id integer PRIMARY KEY,
    parent_id integer NOT NULL REFERENCES {s}.parent (id),
    name varchar(10) NOT NULL,
    made date,
    price numeric(5,2),
    qty integer CHECK (qty > 0)
);
"""

GOOD = [f"{i},{1 + i % 2},item{i},2024-01-{1 + i % 28:02d},{i % 100}.25,{i}".encode() for i in range(1, 51)]
BAD = {  # id -> (csv line, expected SQLSTATE)
    101: (b"101,1,,2024-01-01,1.00,1", "23502"),                 # NULL into NOT NULL
    102: (b"102,1,abcdefghijklmnop,2024-01-01,1.00,1", "22001"),  # text too long for varchar(10)
    103: (b"103,1,bad date,2024-02-30,1.00,1", "22008"),          # invalid date
    104: (b"104,1,overflow,2024-01-01,123456.78,1", "22003"),     # numeric(5,2) overflow
    5: (b"5,1,dup,2024-01-01,1.00,1", "21000"),                   # key 5 again inside the interval
    106: (b"106,999,orphan,2024-01-01,1.00,1", "23503"),          # foreign key violation
    107: (b"107,1,negative,2024-01-01,1.00,-1", "23514"),         # check constraint violation
    108: (b"108,1,\xff\xfebad,2024-01-01,1.00,1", "22021"),       # invalid byte sequence for UTF8
}


@pytest.fixture
def items(schemas, target_dsn):
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(DDL.format(s=f'"{schemas["data"]}"'))
    return f'"{schemas["data"]}".items'


def test_eight_kinds_of_bad_rows_are_quarantined_and_good_rows_load(tmp_path, make_ctx, items, target_dsn, schemas):
    lines = GOOD[:20] + [BAD[101][0], BAD[102][0]] + GOOD[20:35] + [v[0] for k, v in BAD.items() if k not in (101, 102)] + GOOD[35:]
    (tmp_path / "items_20240101.csv").write_bytes(b"id,parent_id,name,made,price,qty\n" + b"\n".join(lines) + b"\n")
    ctx = make_ctx(
        source={"files": str(tmp_path / "items_*.csv"), "conn_id": None, "table": None, "interval_column": None},
        target={"table": f"{schemas['data']}.items"}, keys=["id"], chunk_rows=16, max_rejects=10,
    )
    ex = extract(ctx, START, END)
    assert ex.rejected == 2  # duplicate key and invalid bytes are caught while landing
    lane = run_lane(ctx, ex.run_id, 0)
    assert lane.rows_written == 50
    rejects = control_rows(target_dsn, schemas["control"],
                           "SELECT key_text, sqlstate, stage, row_text FROM {c}.rejects WHERE run_id = %s", (ex.run_id,))
    assert {int(k): s for k, s, _, _ in rejects} == {k: v[1] for k, v in BAD.items()}
    assert len(rejects) == len(BAD)
    assert all(row_text for *_, row_text in rejects)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT id, parent_id, name, made::text, price::text, qty FROM {items} ORDER BY id")
        loaded = cur.fetchall()
    expected = []
    for line in GOOD:
        i, p, name, made, price, qty = line.decode().split(",")
        expected.append((int(i), int(p), name, made, f"{float(price):.2f}", int(qty)))
    assert loaded == expected
    assert check_run(ctx, ex.run_id).mismatched_first_pass == []


def test_more_rejects_than_allowed_fail_without_retry(tmp_path, make_ctx, items, schemas):
    (tmp_path / "items.csv").write_bytes(b"id,parent_id,name,made,price,qty\n" + b"\n".join(GOOD[:10] + [BAD[106][0], BAD[107][0]]) + b"\n")
    ctx = make_ctx(
        source={"files": str(tmp_path / "items.csv"), "conn_id": None, "table": None, "interval_column": None},
        target={"table": f"{schemas['data']}.items"}, keys=["id"], chunk_rows=100, max_rejects=1,
    )
    ex = extract(ctx, START, END)
    with pytest.raises(PERMANENT_ERRORS) as err:
        run_lane(ctx, ex.run_id, 0)
    message = str(err.value)
    assert "max_rejects=1" in message and f"run {ex.run_id}" in message and "chunk 1" in message
    assert "orders_sync" in message


def test_duplicate_keys_in_a_source_table_without_a_key_are_rejected(make_ctx, orders, source_dsn, target_dsn, schemas):
    from tests.integration.engine.conftest import make_orders

    loose = f'"{schemas["data"]}".orders_loose'
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.execute(f"CREATE TABLE {loose} AS SELECT * FROM {orders} WHERE false")  # no primary key
        make_orders(cur, loose, 30)
        cur.execute(f"INSERT INTO {loose} SELECT * FROM {loose} WHERE o_orderkey IN (4, 7)")
    ctx = make_ctx(source={"table": f"{schemas['data']}.orders_loose"}, max_rejects=5)
    ex = extract(ctx, START, dt.datetime(2024, 1, 4, tzinfo=UTC))
    assert ex.rejected == 2
    rejects = control_rows(target_dsn, schemas["control"], "SELECT key_text, sqlstate FROM {c}.rejects", ())
    assert sorted(rejects) == [("4", "21000"), ("7", "21000")]
    assert run_lane(ctx, ex.run_id, 0).rows_written == 30
