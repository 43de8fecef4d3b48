"""The reconciliation's row digest on the real server, property-based: one canonical form everywhere.

For every column type of the fingerprint's property test (the same value strategies: sign flips,
0 / NULL, '' / NULL, NaN and the infinities, trailing spaces, timestamps an hour apart, ...), the
digest of a value (``Dialect.recon_row_md5``) is the same in a postgres-dialect session, in a
gaussdb-dialect session under the openGauss semantics mode, and in one with every output setting
changed (DateStyle 'SQL, DMY', extra_float_digits 0, bytea_output 'escape', IntervalStyle
'sql_standard', another TimeZone); values the server calls distinct never share a digest, and
NULL's digest differs from every value's.
"""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest
from hypothesis import given

from gaussdb_batch.dialects import Column, get_dialect
from tests.integration.checks.test_fingerprint_properties import _BY_TEXT, EXAMPLES, TYPES
from tests.integration.checks.test_fingerprint_properties import server  # noqa: F401 - the enum type, installed
from tests.integration.opengauss_semantics import SEARCH_PATH

#: (dialect, search_path, session settings): the digest must not depend on any of them.
SESSIONS = {
    "postgres": ("postgres", ["pg_catalog", "public"], ["SET TIME ZONE 'UTC'"]),
    "gaussdb+opengauss_semantics": ("gaussdb", SEARCH_PATH, ["SET TIME ZONE 'Asia/Shanghai'"]),
    "gaussdb+opengauss_semantics+settings": ("gaussdb", SEARCH_PATH, [
        "SET DateStyle = 'SQL, DMY'", "SET extra_float_digits = 0", "SET bytea_output = 'escape'",
        "SET IntervalStyle = 'sql_standard'", "SET TIME ZONE 'America/St_Johns'"]),
}


@pytest.fixture(scope="module")
def sessions(server, target_dsn):  # noqa: F811 - the imported fixture
    out = {}
    for name, (dialect, path, settings) in SESSIONS.items():
        conn = psycopg2.connect(target_dsn)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(f"SET search_path = {', '.join(path)}")
        for s in settings:
            cur.execute(s)
        out[name] = (conn, cur, get_dialect(dialect))
    yield out
    for conn, _, _ in out.values():
        conn.close()


def _literal(v):
    """A value as every session parses it alike: an interval with a sign on each field (under
    IntervalStyle sql_standard a leading sign applies to the fields without one)."""
    if isinstance(v, dt.timedelta):
        return f"{v.days:+d} days {v.seconds:+d} seconds {v.microseconds:+d} microseconds"
    return v


def _digests(cur, d, type_sql: str, a, b) -> tuple[str, str, bool]:
    col = Column("v", type_sql, type_sql.startswith(("character", "text")))
    differ = "a::text IS DISTINCT FROM b::text" if type_sql in _BY_TEXT else "a IS DISTINCT FROM b"
    cur.execute(
        f'SELECT {d.recon_row_md5([col], "x")}, {d.recon_row_md5([col], "y")}, {differ} '
        f'FROM (SELECT CAST(%(a)s AS {type_sql}) AS a, CAST(%(b)s AS {type_sql}) AS b) p, '
        f'LATERAL (SELECT p.a AS "v") x, LATERAL (SELECT p.b AS "v") y',
        {"a": _literal(a), "b": _literal(b)})
    return cur.fetchone()


@pytest.mark.parametrize("type_sql,pairs", TYPES, ids=[t for t, _ in TYPES])
def test_digests_are_one_canonical_form_and_distinct_values_differ(sessions, type_sql, pairs):
    @EXAMPLES
    @given(pairs)
    def check(pair):
        a, b = pair
        seen = {name: _digests(cur, d, type_sql, a, b) for name, (_, cur, d) in sessions.items()}
        assert len(set(seen.values())) == 1, f"{type_sql}: {a!r}, {b!r} digest differently per session: {seen}"
        da, db, distinct = seen["postgres"]
        if distinct:
            assert da != db, f"{type_sql}: {a!r} and {b!r} differ but share the digest {da}"

    check()


def test_a_row_digest_tells_values_moved_between_columns_and_null_from_empty(sessions):
    _, cur, d = sessions["gaussdb+opengauss_semantics+settings"]
    cols = [Column("a", "text", True), Column("b", "text", True)]
    rows = [("x", ""), ("", "x"), ("x", None), (None, "x"), ("", None), (None, ""), ("V1:x", None), (None, None)]
    found = set()
    for a, b in rows:
        cur.execute(f"SELECT {d.recon_row_md5(cols, 'r')} FROM (SELECT CAST(%(a)s AS text) AS \"a\","
                    f" CAST(%(b)s AS text) AS \"b\") r", {"a": a, "b": b})
        found.add(cur.fetchone()[0])
    assert len(found) == len(rows)
