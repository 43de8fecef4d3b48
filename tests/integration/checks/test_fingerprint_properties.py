"""The fingerprint's value terms on the real server, property-based: values that differ never hash equal.

For every column type the project supports, hypothesis draws pairs of values (independent ones and
adversarial neighbours: sign flips, 0 / NULL, '' / NULL, NaN and the infinities, 2**32 folds of 64-bit
values and timestamps, trailing spaces, case); the server says whether they differ (``IS DISTINCT FROM``
for the type, the text for json), and the dialect's term (``Dialect.value_term_expr``) must then differ.
NULL's term differs from every value's. Each runs in the postgres dialect, the gaussdb dialect and the
gaussdb dialect under the openGauss semantics mode (its operators first in the search_path), and string
types also under a nondeterministic (case-insensitive) ICU collation, where ``=`` calls 'a' and 'A' equal
but the stored bytes differ.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaussdb_batch.dialects import Column, get_dialect
from tests.integration.opengauss_semantics import SEARCH_PATH, install

#: Examples per type and mode; ``GB_FINGERPRINT_EXAMPLES=2000`` for a longer search.
EXAMPLES = settings(max_examples=int(os.environ.get("GB_FINGERPRINT_EXAMPLES", "80")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
UTC = dt.timezone.utc

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


def _flip_case(s: str) -> str:
    return s.swapcase()


def _strings(max_size: int | None = None) -> st.SearchStrategy:
    base = _text if max_size is None else st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=max_size)
    pairs = st.tuples(base, base)
    near = base.flatmap(lambda s: st.sampled_from([
        (s, s + " "), (s, " " + s), (s, _flip_case(s)), (s, ""), (s, None), ("", None), (s, s + "\t")]))
    return st.one_of(pairs, near)


def _ints(lo: int, hi: int) -> st.SearchStrategy:
    v = st.integers(lo, hi)
    near = v.flatmap(lambda x: st.sampled_from([
        (x, -x if lo <= -x <= hi else 0), (x, None), (0, None), (x, x ^ 1), (hi, lo), (x, ~x),
        (x, (2**32 + (x ^ 1)) if hi > 2**32 and lo <= 2**32 + (x ^ 1) <= hi else x + 1 if x < hi else x - 1),
    ]))
    return st.one_of(st.tuples(v, v), near)


def _numeric() -> st.SearchStrategy:
    d = st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-10**20, max_value=10**20)
    special = st.sampled_from(["NaN", "Infinity", "-Infinity", "0", "0.00", "-0"])
    v = st.one_of(d.map(str), special)
    near = d.flatmap(lambda x: st.sampled_from([
        (str(x), str(-x)), (str(x), None), ("0", None), ("NaN", "Infinity"), ("Infinity", "-Infinity"),
        ("NaN", None), (str(x), "NaN"), (str(x), str(x.scaleb(1))), (str(x), str(x + 1))]))
    return st.one_of(st.tuples(v, v), near)


def _scaled() -> st.SearchStrategy:
    d = st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**9, max_value=10**9)
    near = d.flatmap(lambda x: st.sampled_from([(str(x), str(-x)), (str(x), None), ("0.00", None),
                                                (str(x), str(x + decimal.Decimal("0.01")))]))
    return st.one_of(st.tuples(d.map(str), d.map(str)), near)


def _floats(width: int) -> st.SearchStrategy:
    f = st.floats(width=width, allow_nan=True, allow_infinity=True).map(
        lambda x: "NaN" if x != x else repr(x).replace("inf", "Infinity"))
    near = f.flatmap(lambda x: st.sampled_from([
        (x, x[1:] if x.startswith("-") else "-" + x), (x, None), ("0", None), ("NaN", "Infinity"),
        ("Infinity", "-Infinity"), ("NaN", None), ("-0", "0")]))
    return st.one_of(st.tuples(f, f), near)


_FOLD = dt.timedelta(microseconds=2**32 + 1)
_stamps = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))


def _timestamps(zone: bool) -> st.SearchStrategy:
    v = _stamps.map(lambda t: t.replace(tzinfo=UTC) if zone else t)
    near = v.flatmap(lambda t: st.sampled_from([
        (t, t + _FOLD), (t, t - _FOLD), (t, t + dt.timedelta(hours=1)), (t, t + dt.timedelta(microseconds=1)),
        (t, None), (t, "infinity"), ("infinity", "-infinity"), ("-infinity", None)]))
    return st.one_of(st.tuples(v, v), near)


def _dates() -> st.SearchStrategy:
    v = st.dates(min_value=dt.date(1, 1, 2), max_value=dt.date(9999, 12, 30))
    near = v.flatmap(lambda d: st.sampled_from([(d, d + dt.timedelta(days=1)), (d, None), (d, "infinity")]))
    return st.one_of(st.tuples(v, v), near)


def _times() -> st.SearchStrategy:
    v = st.times()
    near = st.sampled_from([("00:00:00.000001", "01:11:34.967296"), ("00:00:00", None), ("23:59:59.999999", "00:00:00")])
    return st.one_of(st.tuples(v, v), near)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | _text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_text, children, max_size=3), max_leaves=6)


def _json() -> st.SearchStrategy:
    as_text = st.tuples(_json_values, st.booleans()).map(
        lambda p: json.dumps(p[0], separators=(",", ":") if p[1] else (", ", ": ")))
    near = st.sampled_from([('{"a":1,"b":2}', '{"b":2,"a":1}'), ('{"a":1}', None), ('{"a":1}', '{"a":-1}'),
                            ("0", "null"), ('""', "null")])
    return st.one_of(st.tuples(as_text, as_text), near)


def _arrays() -> st.SearchStrategy:
    arr = st.lists(st.one_of(st.none(), st.integers(-2**31, 2**31 - 1)), max_size=4).map(
        lambda xs: "{" + ",".join("NULL" if x is None else str(x) for x in xs) + "}")
    near = st.sampled_from([("{1,2}", "{2,1}"), ("{1}", "{-1}"), ("{0}", "{NULL}"), ("{}", None), ("{}", "{NULL}")])
    return st.one_of(st.tuples(arr, arr), near)


#: (type as the target declares it, strategy of value pairs); a value is text or a Python value
#: psycopg2 binds, None is NULL.
TYPES = [
    ("smallint", _ints(-2**15, 2**15 - 1)),
    ("integer", _ints(-2**31, 2**31 - 1)),
    ("bigint", _ints(-2**63, 2**63 - 1)),
    ("numeric", _numeric()),
    ("numeric(12,2)", _scaled()),
    ("real", _floats(32)),
    ("double precision", _floats(64)),
    ("text", _strings()),
    ("character varying(20)", _strings(20)),
    ("character(8)", _strings(8)),
    ("boolean", st.tuples(st.one_of(st.none(), st.booleans()), st.one_of(st.none(), st.booleans()))),
    ("date", _dates()),
    ("time without time zone", _times()),
    ("timestamp without time zone", _timestamps(False)),
    ("timestamp(3) without time zone", _timestamps(False)),
    ("timestamp with time zone", _timestamps(True)),
    ("interval", st.tuples(st.timedeltas(), st.timedeltas())),
    ("bytea", st.tuples(st.one_of(st.none(), st.binary(max_size=8)), st.one_of(st.none(), st.binary(max_size=8)))),
    ("uuid", st.tuples(st.uuids().map(str), st.one_of(st.none(), st.uuids().map(str)))),
    ("json", _json()),
    ("jsonb", _json()),
    ("integer[]", _arrays()),
    ("gb_mood", st.tuples(*[st.sampled_from(["sad", "ok", "happy", "Happy", "happy ", None])] * 2)),
]
#: Types compared by their text: json has no equality operator.
_BY_TEXT = {"json"}
#: Types whose equal values may be stored differently, and then hash apart: '1 day' = '24 hours'.
_STORED_FORM = {"interval"}
MODES = ["postgres", "gaussdb", "gaussdb+opengauss_semantics"]


@pytest.fixture(scope="module")
def server(target_dsn):
    install(target_dsn)
    conn = psycopg2.connect(target_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DO $$ BEGIN CREATE TYPE gb_mood AS ENUM ('sad', 'ok', 'happy', 'Happy', 'happy '); "
                    "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        cur.execute("DO $$ BEGIN CREATE COLLATION gb_ci (provider = icu, locale = 'und-u-ks-level2', "
                    "deterministic = false); EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    yield conn
    conn.close()


def _session(server, mode: str):
    cur = server.cursor()
    path = SEARCH_PATH if mode.endswith("opengauss_semantics") else ["pg_catalog", "public"]
    cur.execute(f"SET search_path = {', '.join(path)}")
    cur.execute("SET TIME ZONE 'Asia/Shanghai'")
    return cur, get_dialect(mode.split("+")[0]).for_landing(True)


def _terms(cur, d, type_sql: str, a, b, *, collation: str | None = None) -> tuple[int, int, bool]:
    col = Column("v", type_sql, type_sql.startswith(("character", "text")))
    coll = f' COLLATE "{collation}"' if collation else ""
    differ = "a::text IS DISTINCT FROM b::text" if type_sql in _BY_TEXT else "a IS DISTINCT FROM b"
    cur.execute(
        f"SELECT {d.value_term_expr(col, 'x.a')}, {d.value_term_expr(col, 'x.b')}, {differ} "
        f"FROM (SELECT CAST(%(a)s AS {type_sql}){coll} AS a, CAST(%(b)s AS {type_sql}){coll} AS b) x",
        {"a": a, "b": b})
    ta, tb, distinct = cur.fetchone()
    return ta, tb, distinct


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("type_sql,pairs", TYPES, ids=[t for t, _ in TYPES])
def test_values_that_differ_never_hash_equal(server, mode, type_sql, pairs):
    cur, d = _session(server, mode)

    @EXAMPLES
    @given(pairs)
    def check(pair):
        a, b = pair
        ta, tb, distinct = _terms(cur, d, type_sql, a, b)
        if distinct:
            assert ta != tb, f"{type_sql}: {a!r} and {b!r} differ but hash alike ({ta})"
        elif type_sql not in _STORED_FORM:
            assert ta == tb, f"{type_sql}: {a!r} and {b!r} are the same value but hash {ta} vs {tb}"

    check()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("type_sql", ["text", "character varying(20)", "character(8)"])
def test_strings_under_a_nondeterministic_collation_hash_their_bytes(server, mode, type_sql):
    """'a' = 'A' under the collation, yet they are different stored values: they hash apart, and a
    value hashes the same with or without the collation (a landing column has none)."""
    cur, d = _session(server, mode)

    @EXAMPLES
    @given(_strings(8))
    def check(pair):
        a, b = pair
        ta, tb, _ = _terms(cur, d, type_sql, a, b, collation="gb_ci")
        plain_a, plain_b, distinct_bytes = _terms(cur, d, type_sql, a, b)
        assert (ta, tb) == (plain_a, plain_b)
        if distinct_bytes:
            assert ta != tb

    check()
