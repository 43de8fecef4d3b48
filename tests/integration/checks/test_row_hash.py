"""The check's row hash on a real server: equal stored values hash equal whichever landing they came
through; a changed, moved or nulled value changes it."""

from __future__ import annotations

import psycopg2
import pytest

from gaussdb_batch.dialects import Column, get_dialect

TYPES = [
    ("i2", "smallint"), ("i4", "integer"), ("i8", "bigint"), ("n", "numeric(10,2)"), ("r", "real"),
    ("f", "double precision"), ("c", "character(5)"), ("v", "character varying(10)"), ("t", "text"),
    ("d1", "date"), ("d2", "date"), ("ts", "timestamp without time zone"), ("tz", "timestamp with time zone"),
    ("b", "boolean"), ("u", "uuid"),
]
ROW = ("7", "70000", "7000000000", "1.5", "0.25", "-2.5", "ab ", "x y", "tée", "2024-01-02", "2024-03-04",
       "2024-01-02 03:04:05.678", "2024-01-02 03:04:05+02", "true", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")


@pytest.fixture
def hashes(target_dsn, dialect_name):
    cols = [Column(n, t, t.startswith(("character", "text"))) for n, t in TYPES]
    typed, text = get_dialect(dialect_name).for_landing(True), get_dialect(dialect_name).for_landing(False)
    conn = psycopg2.connect(target_dsn)
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    cur.execute(f"CREATE TEMP TABLE typed ({', '.join(f'{n} {t}' for n, t in TYPES)})")
    cur.execute(f"CREATE TEMP TABLE landed ({', '.join(f'{n} text' for n, _ in TYPES)})")

    def of(values: tuple, *, through_text: bool = False, zone: str = "UTC") -> int:
        table, d = ("landed", text) if through_text else ("typed", typed)
        cur.execute(f"SET TIME ZONE '{zone}'")
        cur.execute(f"TRUNCATE {table}")
        cur.execute(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(values))})", values)
        cur.execute(f"SELECT {d.row_hash_expr(cols, 's', from_landing=through_text)} FROM {table} s")
        return cur.fetchone()[0]

    yield of
    conn.close()


def _with(**changes) -> tuple:
    names = [n for n, _ in TYPES]
    row = list(ROW)
    for k, v in changes.items():
        row[names.index(k)] = v
    return tuple(row)


def test_equal_stored_values_hash_equal_through_either_landing(hashes):
    base = hashes(ROW)
    assert isinstance(base, int) and -2**31 <= base < 2**31
    assert hashes(ROW, through_text=True) == base
    # What the target stores decides: numeric scale, char(n) padding, float text forms.
    assert hashes(_with(n="1.50", c="ab", r="2.5e-1")) == base
    assert hashes(_with(n="1.50", c="ab   "), through_text=True) == base
    # A timestamptz is an instant: sessions in other time zones hash it alike.
    assert hashes(ROW, zone="Asia/Shanghai") == hashes(_with(tz="2024-01-02 09:04:05+08"), zone="America/New_York") == base


@pytest.mark.parametrize("changes", [
    {"n": "1.51"}, {"c": "ab x"}, {"v": "x  y"}, {"t": "tee"}, {"i8": "7000000001"}, {"ts": "2024-01-02 03:04:05.679"},
    {"tz": "2024-01-02 03:04:05+03"}, {"b": "false"}, {"u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"},
    {"d1": "2024-03-04", "d2": "2024-01-02"},  # two values swapped between columns
    {"v": None}, {"i2": None}, {"t": ""},
])
def test_a_changed_moved_or_nulled_value_changes_the_hash(hashes, changes):
    assert hashes(_with(**changes)) != hashes(ROW)
