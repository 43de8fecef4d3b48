"""SQL that runs before any dialect is chosen: server detection, pings and session settings.

Detection (hooks/detect.py) decides the dialect, so its probes cannot be a dialect's methods;
they are text every server family parses (a probe that fails on one family is run under a
savepoint and read as "absent"). The SQLAlchemy dialect's checks and the session's settings
live here too: the one package that writes SQL (tests/unit/test_sql_location.py).
"""

from __future__ import annotations

from collections.abc import Sequence

#: The server's version text (every family).
VERSION_SQL = "SELECT version()"
#: The same, schema-qualified: what SQLAlchemy reads to gate its features.
CATALOG_VERSION_SQL = "SELECT pg_catalog.version()"
#: openGauss's own release; fails on PostgreSQL.
OPENGAUSS_VERSION_SQL = "SELECT opengauss_version()"
#: GaussDB's compatibility mode (A, B, C, PG); fails on PostgreSQL.
COMPATIBILITY_SQL = "SHOW sql_compatibility"
#: Tables without storage_type are ustore.
DEFAULT_USTORE_SQL = "SELECT setting FROM pg_settings WHERE name = 'enable_default_ustore_table'"
#: Data nodes of a distributed cluster.
DATA_NODES_SQL = "SELECT count(*) FROM pgxc_node WHERE node_type = 'D'"
#: The dolphin extension (MySQL behaviour for B databases).
DOLPHIN_SQL = "SELECT count(*) FROM pg_extension WHERE extname = 'dolphin'"
#: The probe of ``FOR UPDATE SKIP LOCKED``: locks nothing; a syntax error (42601) where the grammar
#: lacks the clause (openGauss before 3.1.0), any other outcome means the server parses it.
SKIP_LOCKED_PROBE = "SELECT 1 FOR UPDATE SKIP LOCKED"
#: A connection is alive.
PING_SQL = "SELECT 1"
#: The session's isolation level.
ISOLATION_LEVEL_SQL = "SHOW transaction_isolation"


def settings_present_sql(names: Sequence[str]) -> str:
    """Which of ``names`` (this project's constants, never user text) the server has, comma-joined."""
    listed = ", ".join(f"'{name}'" for name in names)
    return f"SELECT string_agg(name, ',') FROM pg_settings WHERE name IN ({listed})"


def session_settings_sql(count: int) -> str:
    """``count`` session settings in one statement; params: name and value, in pairs (bound, never quoted)."""
    return "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in range(count))
