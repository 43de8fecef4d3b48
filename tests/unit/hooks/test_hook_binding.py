"""Client-side binding and statement shapes of the async_gaussdb driver (pure text, no server)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from gaussdb_batch.hooks.literals import BindError, literal, render
from gaussdb_batch.hooks.sqltext import shape


@pytest.mark.parametrize(
    ("value", "sql"),
    [
        (None, "NULL"), (True, "true"), (7, "7"), (-7, " -7"), (1.5, "1.5"), (float("nan"), "'NaN'::float8"),
        (Decimal("-2.50"), " -2.50"), ("it's", "'it''s'"), ("a\\b", "E'a\\\\b'"),
        (b"\x00\xff", "'\\x00ff'::bytea"), (dt.date(2024, 1, 2), "'2024-01-02'::date"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "'2024-01-02T03:04:05'::timestamp"),
        (dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc), "'2024-01-02T00:00:00+00:00'::timestamptz"),
        (dt.timedelta(days=1, seconds=2), "'1 days 2 seconds 0 microseconds'::interval"),
        (uuid.UUID(int=1), "'00000000-0000-0000-0000-000000000001'::uuid"),
        ([1, 2], "ARRAY[1,2]"), ([], "'{}'"), ((1, "x"), "(1, 'x')"),
    ],
)  # fmt: skip
def test_literals_match_what_psycopg2_sends(value, sql):
    assert literal(value) == sql


def test_render_positional_named_and_percent():
    assert render("SELECT %s, %s", (1, "a")) == "SELECT 1, 'a'"
    assert render("SELECT %(n)s + %(n)s, 'x%%'", {"n": 2, "unused": 3}) == "SELECT 2 + 2, 'x%'"
    assert render("SELECT 'x%%' LIKE '%'", None) == "SELECT 'x%%' LIKE '%'"  # no params: text as given
    assert render("SELECT 1 - %s", (-1,)) == "SELECT 1 -  -1"  # never '--', a comment


@pytest.mark.parametrize(
    ("sql", "params", "match"),
    [
        ("SELECT %s, %s", (1,), "not enough"),
        ("SELECT %s", (1, 2), "not all"),
        ("SELECT %(a)s", (1,), "sequence"),
        ("SELECT %s", {"a": 1}, "mapping"),
        ("SELECT %(b)s", {"a": 1}, "no parameter named 'b'"),
        ("SELECT %d", (1,), "unsupported placeholder"),
        ("SELECT %s", (object(),), "cannot bind"),
    ],
)
def test_render_refuses_mismatches(sql, params, match):
    with pytest.raises(BindError, match=match):
        render(sql, params)


def test_nul_in_a_string_is_refused():
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")


@pytest.mark.parametrize(
    ("sql", "first", "several", "rows"),
    [
        ("SELECT 1", "SELECT", False, True),
        ("  -- note\n/* a /* nested */ c */ (SELECT 1) UNION SELECT 2;", "SELECT", False, True),
        ("INSERT INTO t VALUES (1) RETURNING id", "INSERT", False, True),
        ("INSERT INTO t SELECT * FROM s", "INSERT", False, False),
        ("CREATE TABLE t (a int); INSERT INTO t VALUES (1)", "CREATE", True, False),
        ("SELECT 'a;b', \"x;y\", $$ ; $$, $f$ ; $f$, E'\\'; '", "SELECT", False, True),
        ("DO $$ BEGIN PERFORM 1; END $$", "DO", False, False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH", False, True),
        ("SET search_path = a;", "SET", False, False),
        ("", "", False, False),
    ],
)
def test_statement_shape(sql, first, several, rows):
    found = shape(sql)
    assert (found.first_keyword, found.several, found.may_return_rows) == (first, several, rows)
