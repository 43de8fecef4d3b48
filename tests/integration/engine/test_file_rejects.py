"""File sources: a record that cannot be placed exactly becomes a reject with its line number.

Never a shifted row, a silent NULL, a dropped row or a failed extract: short and long records,
a quoted field spanning lines, missing and unparseable interval values.
"""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.extract import extract
from gaussdb_batch.engine.load import run_lane
from tests.integration.engine.conftest import control_rows
from tests.integration.engine.test_rejects import DDL

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 8, tzinfo=UTC)

CSV = (
    b"id,parent_id,name,made,price,qty\n"        # line 1
    b"1,1,one,2024-01-01,1.00,1\n"               # line 2
    b"2,1,two,2024-01-02\n"                      # line 3: too few fields
    b"3,1,three,2024-01-03,3.00,3,extra\n"       # line 4: too many fields
    b'4,1,"fo\nur",2024-01-04,4.00,4\n'          # lines 5-6: one record, a newline inside quotes
    b"5,1,five,yesterday,5.00,5\n"               # line 7: not a timestamp
    b"6,1,six,,6.00,6\n"                         # line 8: no interval value
    b"7,1,seven,2024-02-01,7.00,7\n"             # line 9: another interval (filtered, not rejected)
    b"8,2,eight,2024-01-05,8.00,8\n"             # line 10
)


@pytest.fixture
def items(schemas, target_dsn):
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(DDL.format(s=f'"{schemas["data"]}"'))
    return f'"{schemas["data"]}".items'


def test_bad_records_become_rejects_with_line_numbers_and_good_rows_load_unshifted(
        tmp_path, make_ctx, items, target_dsn, schemas):
    (tmp_path / "items.csv").write_bytes(CSV)
    ctx = make_ctx(
        source={"files": str(tmp_path / "items.csv"), "conn_id": None, "table": None, "interval_column": "made"},
        target={"table": f"{schemas['data']}.items"}, keys=["id"], chunk_rows=3, max_rejects=10,
    )
    ex = extract(ctx, START, END)
    assert (ex.rows, ex.rejected) == (3, 4)
    run_lane(ctx, ex.run_id, 0)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT id, parent_id, name, made::text, price::text, qty FROM {items} ORDER BY id")
        assert cur.fetchall() == [(1, 1, "one", "2024-01-01", "1.00", 1), (4, 1, "fo\nur", "2024-01-04", "4.00", 4),
                                  (8, 2, "eight", "2024-01-05", "8.00", 8)]
    rejects = control_rows(target_dsn, schemas["control"],
                           "SELECT key_text, sqlstate, message FROM {c}.rejects ORDER BY seq")
    assert [(k, s) for k, s, _ in rejects] == [("2", "22P04"), ("3", "22P04"), ("5", "22007"), ("6", "22007")]
    messages = [m for _, _, m in rejects]
    assert messages[0].startswith("line 3: 4 fields, the header has 6") and "items.csv" in messages[0]
    assert messages[1].startswith("line 4: 7 fields, the header has 6")
    assert messages[2].startswith("line 7: interval column made value 'yesterday' is not a timestamp")
    assert messages[3].startswith("line 8: interval column made is empty")
