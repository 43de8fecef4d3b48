"""Tell GaussDB/openGauss from PostgreSQL without poisoning the session.

``server_version`` says 9.2.4 on every GaussDB, so the probe asks for functions and
settings only GaussDB has, and which of the optional session settings the server
registers (idle_in_transaction_session_timeout is missing on old and distributed
builds, session_timeout on PostgreSQL). Each probe runs under a savepoint: a failing probe on
PostgreSQL rolls back to it instead of aborting the transaction, and the probe
transaction is rolled back at the end, leaving the session idle and clean.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gaussdb_batch.hooks.session import OPTIONAL_SETTINGS

log = logging.getLogger(__name__)

GAUSSDB = "gaussdb"
POSTGRES = "postgres"
_GAUSS_MARKERS = ("opengauss", "gaussdb")


@dataclass(frozen=True)
class ServerInfo:
    """What the server is: ``family`` gaussdb|postgres, version text, sql_compatibility (A/B/C/PG)."""

    family: str
    version: str
    compatibility: str | None
    #: The OPTIONAL_SETTINGS this server has.
    settings: frozenset[str] = field(default_factory=frozenset)

    @property
    def release(self) -> tuple[int, ...] | None:
        """openGauss release (3, 1, 0) from opengauss_version(); GaussDB kernel versions (503, ...) as they are."""
        import re

        if self.family != GAUSSDB:
            return None
        m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", self.version)
        return tuple(int(x) for x in m.groups() if x is not None) if m else None

    @property
    def supports_skip_locked(self) -> bool:
        """``FOR UPDATE SKIP LOCKED``: PostgreSQL, openGauss >= 3.1.0 (absent from gram.y up to 3.0.x),
        GaussDB kernels 503 and later (inferred: built on openGauss 3.1+). Unknown: assume absent."""
        if self.family != GAUSSDB:
            return True
        r = self.release
        if r is None:
            return False
        return r >= (3, 1) if r[0] < 100 else r[0] >= 503

    @property
    def empty_string_is_null(self) -> bool:
        """True in A compatibility mode, where '' and NULL are the same value."""
        return self.compatibility == "A"


def _try_scalar(cur: Any, sql: str, error: type[Exception]) -> str | None:
    cur.execute("SAVEPOINT gaussdb_batch_probe")
    try:
        cur.execute(sql)
        row = cur.fetchone()
    except error:
        cur.execute("ROLLBACK TO SAVEPOINT gaussdb_batch_probe")
        return None
    cur.execute("RELEASE SAVEPOINT gaussdb_batch_probe")
    return None if row is None or row[0] is None else str(row[0])


def probe_server(conn: Any, error: type[Exception]) -> ServerInfo:
    """Probe a fresh, idle connection (autocommit off); leaves it idle again."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version()")
            version_text = str(cur.fetchone()[0])
            og_version = _try_scalar(cur, "SELECT opengauss_version()", error)
            compatibility = _try_scalar(cur, "SHOW sql_compatibility", error)
            names = ", ".join(f"'{name}'" for name in OPTIONAL_SETTINGS)
            present = _try_scalar(cur, f"SELECT string_agg(name, ',') FROM pg_settings WHERE name IN ({names})", error)
    finally:
        conn.rollback()
    is_gauss = og_version is not None or any(m in version_text.lower() for m in _GAUSS_MARKERS)
    info = ServerInfo(
        family=GAUSSDB if is_gauss else POSTGRES,
        version=og_version or version_text,
        compatibility=compatibility.upper() if compatibility else None,
        settings=frozenset(present.split(",")) if present else frozenset(),
    )
    if info.empty_string_is_null:
        log.warning(
            "The target database runs in sql_compatibility A: the empty string is stored as NULL, "
            "DATE is timestamp(0) and VARCHAR(n) counts bytes. Fingerprints treat '' and NULL alike; "
            "create the database with DBCOMPATIBILITY 'PG' to keep PostgreSQL semantics."
        )
    return info
