"""The file reader without a database: records placed exactly, or rejected with their file and line."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.files import FileReject, FileSource, csv_records, file_blocks
from gaussdb_batch.engine.spec import SourceSpec

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 8, tzinfo=UTC)
COLUMNS = ("id", "parent_id", "name", "made", "price", "qty")

#: The records of tests/integration/engine/test_file_rejects.py, line by line.
CSV = "\n".join([
    "id,parent_id,name,made,price,qty",  # line 1
    "1,1,one,2024-01-01,1.00,1",
    "2,1,two,2024-01-02",  # line 3: too few fields
    "3,1,three,2024-01-03,3.00,3,extra",  # line 4: too many fields
    '4,1,"fo\nur",2024-01-04,4.00,4',  # lines 5-6: one record, a newline inside quotes
    "5,1,five,yesterday,5.00,5",  # line 7: not a timestamp
    "6,1,six,,6.00,6",  # line 8: no interval value
    "7,1,seven,2024-02-01,7.00,7",  # line 9: another interval (filtered, not rejected)
    "8,2,eight,2024-01-05,8.00,8",  # line 10
    "",
]).encode()


def source(pattern: str, *, fmt: str = "csv", interval_column: str | None = "made", block_rows: int = 3,
           columns: tuple[str, ...] = COLUMNS) -> FileSource:
    return FileSource(batch="items", source=SourceSpec(files=pattern, file_format=fmt, interval_column=interval_column),
                      columns=columns, block_rows=block_rows)


def read(src: FileSource) -> tuple[list[list[str]], list[FileReject], int]:
    """(landed rows as CSV fields, rejects, number of blocks)."""
    rejects: list[FileReject] = []
    blocks = list(file_blocks(src, START, END, rejects))
    rows = [r for b in blocks for r in csv.reader(io.StringIO(b.getvalue().decode("utf-8", "surrogateescape")))]
    return rows, rejects, len(blocks)


def test_bad_records_become_rejects_with_line_numbers_and_good_rows_stay_unshifted(tmp_path):
    (tmp_path / "items.csv").write_bytes(CSV)
    rows, rejects, blocks = read(source(str(tmp_path / "items.csv")))
    assert [r[1:] for r in rows] == [["1", "1", "one", "2024-01-01", "1.00", "1"],
                                     ["4", "1", "fo\nur", "2024-01-04", "4.00", "4"],
                                     ["8", "2", "eight", "2024-01-05", "8.00", "8"]]
    assert [(r.values["id"], r.sqlstate) for r in rejects] == [("2", "22P04"), ("3", "22P04"), ("5", "22007"),
                                                              ("6", "22007")]
    assert [r.message.split(" (file ")[0] for r in rejects] == [
        "line 3: 4 fields, the header has 6",
        "line 4: 7 fields, the header has 6",
        "line 7: interval column made value 'yesterday' is not a timestamp",
        "line 8: interval column made is empty: the row cannot be placed in an interval",
    ]
    assert all(r.message.endswith(f"(file {tmp_path / 'items.csv'})") for r in rejects)
    assert blocks == 3  # 8 records in blocks of 3: memory stays bounded


def test_seqs_follow_file_order_across_files_so_the_first_row_of_a_duplicate_key_is_kept(tmp_path):
    (tmp_path / "a.csv").write_text("id,made\n1,2024-01-02\n2,2024-01-02\n")
    (tmp_path / "b.csv").write_text("id,made\n1,2024-01-03\nx,bad\n")
    rows, rejects, _ = read(source(str(tmp_path / "*.csv"), columns=("id", "made")))
    assert rows == [["1", "1", "2024-01-02"], ["2", "2", "2024-01-02"], ["3", "1", "2024-01-03"]]
    assert [(r.seq, r.values) for r in rejects] == [(4, {"id": "x", "made": "bad"})]


@pytest.mark.parametrize(("made", "landed"), [
    ("2024-01-01", True),                    # the interval's first instant
    ("2024-01-07T23:59:59", True),
    ("2024-01-08", False),                   # the end is excluded
    ("2023-12-31T23:00:00-02:00", True),     # an offset moves it into the interval (UTC 2024-01-01 01:00)
    ("2024-01-01T01:00:00+02:00", False),    # ... or out of it (UTC 2023-12-31 23:00)
])
def test_the_interval_is_half_open_and_offsets_count(tmp_path, made, landed):
    (tmp_path / "i.csv").write_text(f"id,made\n1,{made}\n")
    rows, rejects, _ = read(source(str(tmp_path / "i.csv"), columns=("id", "made")))
    assert (len(rows), rejects) == ((1, []) if landed else (0, []))


def test_an_empty_field_is_null_and_bytes_the_database_cannot_store_are_rejected(tmp_path):
    (tmp_path / "n.csv").write_bytes(b"id,name\n1,\n2,a\x00b\n3,\xff\n")
    rows, rejects, _ = read(source(str(tmp_path / "n.csv"), columns=("id", "name"), interval_column=None))
    assert rows == [["1", "1", ""]]
    assert [(r.seq, r.sqlstate, r.message.split(" (file ")[0]) for r in rejects] == [
        (2, "22021", 'line 3: invalid byte sequence for encoding "UTF8": 0x00'),
        (3, "22021", 'line 4: invalid byte sequence for encoding "UTF8"'),
    ]
    assert rejects[1].values == {"id": "3", "name": "\\udcff"}  # printable, never a lone surrogate


def test_columns_are_taken_by_header_name_in_target_order(tmp_path):
    (tmp_path / "o.csv").write_text("made,extra,id\n2024-01-02,ignored,7\n")
    rows, _, _ = read(source(str(tmp_path / "o.csv"), columns=("id", "made")))
    assert rows == [["1", "7", "2024-01-02"]]


def test_a_file_without_a_target_column_fails_naming_it(tmp_path):
    (tmp_path / "m.csv").write_text("id\n1\n")
    with pytest.raises(PermanentBatchError, match=r"lacks target columns \['made'\]"):
        read(source(str(tmp_path / "m.csv"), columns=("id", "made")))


def test_an_interval_column_that_is_not_a_target_column_is_refused(tmp_path):
    (tmp_path / "c.csv").write_text("id\n1\n")
    with pytest.raises(PermanentBatchError, match=r"source.interval_column 'made' is not a target column"):
        read(source(str(tmp_path / "c.csv"), columns=("id",)))


def test_no_matching_file_lands_nothing_and_warns(tmp_path, caplog):
    rows, rejects, blocks = read(source(str(tmp_path / "{start:%Y%m%d}.csv")))
    assert (rows, rejects, blocks) == ([], [], 0)
    assert f"no file matches {tmp_path / '20240101.csv'}" in caplog.text


def test_csv_records_skip_blank_lines_and_number_them_as_an_editor_does(tmp_path):
    (tmp_path / "b.csv").write_text("id,made\n\n1,x\n\n2,y\n")
    assert list(csv_records("items", str(tmp_path / "b.csv"), ["made", "id"])) == [
        (3, ["x", "1"], None), (5, ["y", "2"], None)]


def test_parquet_values_are_text_and_missing_values_null(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"id": [1, 2, 3], "made": ["2024-01-02", None, "2024-03-01"], "price": [1.5, None, 2.0]})
    pq.write_table(table, tmp_path / "p.parquet")
    rows, rejects, _ = read(source(str(tmp_path / "p.parquet"), fmt="parquet", columns=("id", "made", "price")))
    assert rows == [["1", "1", "2024-01-02", "1.5"]]
    assert [(r.seq, r.sqlstate, r.message.split(" (file ")[0]) for r in rejects] == [
        (2, "22007", "line 2: interval column made is empty: the row cannot be placed in an interval")]
