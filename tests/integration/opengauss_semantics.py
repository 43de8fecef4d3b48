"""openGauss semantics on PostgreSQL 15: operators that behave as openGauss's where the two differ.

Installed in schema ``og_semantics`` of the test databases and placed first in the search_path of
gaussdb-dialect sessions (``og_semantics, pg_catalog, public``: an operator found in an earlier
schema wins over pg_catalog's once pg_catalog is named explicitly), so every statement the
GaussDB dialect emits runs under them.

- Integer division returns float8: openGauss's pg_operator.data maps ``int4 / int4`` (and every
  int2/int4/int8 pair) to int4div/int8div etc. that return float8 (int.cpp, int8.cpp), where
  PostgreSQL truncates to an integer. ``SELECT 7/2`` is 3.5 in this mode.
- ``hashtext`` ignores trailing spaces, as openGauss's does with ``string_hash_compatible = on``
  (hashfunc.cpp: ``hash_any(VARDATA_ANY(key), bcTruelen(key))``), so a fingerprint that hashed a
  string as it is would not see a trailing space change. ``hashtext('a ') = hashtext('a')`` here.
"""

from __future__ import annotations

import psycopg2

SCHEMA = "og_semantics"
#: The search_path a gaussdb-dialect test session uses.
SEARCH_PATH = [SCHEMA, "pg_catalog", "public"]

_INTS = ("smallint", "integer", "bigint")


def install_sql() -> list[str]:
    stmts = [f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"]
    for left in _INTS:
        for right in _INTS:
            fn = f"{SCHEMA}.div_{left[:3]}_{right[:3]}"
            stmts.append(
                f"CREATE OR REPLACE FUNCTION {fn}({left}, {right}) RETURNS double precision "
                "LANGUAGE sql IMMUTABLE STRICT AS "
                "'SELECT CAST($1 AS double precision) / CAST($2 AS double precision)'"
            )
            stmts.append(
                f"DO $$ BEGIN CREATE OPERATOR {SCHEMA}./ (LEFTARG = {left}, RIGHTARG = {right}, FUNCTION = {fn}); "
                "EXCEPTION WHEN duplicate_function OR duplicate_object THEN NULL; END $$"
            )
    # string_hash_compatible = on: bcTruelen trims trailing spaces (only ' ') before hashing.
    stmts.append(
        f"CREATE OR REPLACE FUNCTION {SCHEMA}.hashtext(text) RETURNS integer LANGUAGE sql IMMUTABLE STRICT AS "
        "'SELECT pg_catalog.hashtext(pg_catalog.rtrim($1, '' ''))'"
    )
    return stmts


def install(dsn: str) -> None:
    """Create the operators (idempotent) in the database of ``dsn``."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(7110)")  # parallel sessions install it once
            for stmt in install_sql():
                cur.execute(stmt)
            cur.execute("SELECT pg_advisory_unlock(7110)")
    finally:
        conn.close()
