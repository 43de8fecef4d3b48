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
import re
from dataclasses import dataclass, field

from gaussdb_batch.dialects import server_probes as probes
from gaussdb_batch.hooks.session import OPTIONAL_SETTINGS
from gaussdb_batch.hooks.dbapi import Connection, Cursor, Row, scalar

log = logging.getLogger(__name__)

GAUSSDB = "gaussdb"
POSTGRES = "postgres"
_GAUSS_MARKERS = ("opengauss", "gaussdb")


#: openGauss releases that GaussDB kernel lines build on (inferred from Huawei's release notes:
#: kernel 503 is the line of openGauss 3.x, 505 of 5.x). Used only for feature gates.
KERNEL_BASES = {503: (3, 1, 0), 505: (5, 0, 0), 506: (6, 0, 0)}


def major_version(version: str) -> str | None:
    """'15' of 'PostgreSQL 15.18 (Debian ...) on x86_64 ...' (the first number); None without one."""
    m = re.search(r"\d+", version or "")
    return m.group(0) if m else None


def parse_release(text: str) -> tuple[str, tuple[int, ...]] | None:
    """(product, release) from ``opengauss_version()`` or ``version()`` text.

    ``openGauss 5.0.1`` / a bare ``5.0.1`` -> ("opengauss", (5, 0, 1)); ``GaussDB Kernel 505.2.0``
    -> ("gaussdb", (505, 2, 0)); DWS's ``PostgreSQL 9.2.4 gsql ((GaussDB 8.2.0 build`` -> ("dws",
    (8, 2, 0)). The 9.2.4 every GaussDB reports as its PostgreSQL version is never taken.
    """
    def nums(m: re.Match[str]) -> tuple[int, ...]:
        return tuple(int(x) for x in m.groups() if x is not None)

    for product, pattern in (("gaussdb", r"GaussDB\s+Kernel\s+V?(\d+)(?:\.(\d+))?(?:\.(\d+))?"),
                             ("opengauss", r"openGauss\s+(\d+)\.(\d+)(?:\.(\d+))?"),
                             ("dws", r"GaussDB\s+(\d+)\.(\d+)(?:\.(\d+))?")):
        m = re.search(pattern, text, re.IGNORECASE)
        if m:
            return product, nums(m)
    m = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", text)
    return ("opengauss", nums(m)) if m else None


@dataclass(frozen=True)
class ServerInfo:
    """What the server is: ``family`` gaussdb|postgres, version text, sql_compatibility (A/B/C/PG)."""

    family: str
    version: str
    compatibility: str | None
    #: The OPTIONAL_SETTINGS this server has.
    settings: frozenset[str] = field(default_factory=frozenset)
    #: enable_default_ustore_table is on: tables without storage_type are ustore.
    default_ustore: bool = False
    #: Data nodes in pgxc_node (a distributed GaussDB / DWS cluster; inferred from the catalog).
    distributed: bool = False
    #: ``FOR UPDATE SKIP LOCKED`` parsed when probed (None: not probed; the release decides).
    skip_locked: bool | None = None
    #: The dolphin extension (MySQL behaviour for B databases) is installed.
    dolphin: bool = False

    @property
    def product(self) -> str:
        """postgres | opengauss | gaussdb (a GaussDB kernel) | dws | unknown (GaussDB-like, unparsed)."""
        if self.family != GAUSSDB:
            return POSTGRES
        parsed = parse_release(self.version)
        return parsed[0] if parsed else "unknown"

    @property
    def release(self) -> tuple[int, ...] | None:
        """The release as the product numbers it: openGauss (3, 1, 0), GaussDB kernel (505, 2, 0), DWS (8, 2, 0)."""
        if self.family != GAUSSDB:
            return None
        parsed = parse_release(self.version)
        return parsed[1] if parsed else None

    @property
    def opengauss_base(self) -> tuple[int, ...] | None:
        """The openGauss release whose features this server has: itself, or a kernel line's base."""
        parsed = parse_release(self.version) if self.family == GAUSSDB else None
        if parsed is None:
            return None
        product, release = parsed
        if product == "opengauss":
            return release
        if product == "gaussdb":
            known = [k for k in KERNEL_BASES if k <= release[0]]
            return KERNEL_BASES[max(known)] if known else None
        return None  # DWS: its own line; no gate is inferred for it

    @property
    def supports_skip_locked(self) -> bool:
        """``FOR UPDATE SKIP LOCKED``: what the probe at detection found (a statement with the clause
        parses, or fails with 42601). Without a probe: PostgreSQL, openGauss >= 3.1.0 (absent from
        gram.y up to 3.0.x), GaussDB kernels of the 503 line and later (inferred); unknown: absent
        (the claim without it is always correct, only slower)."""
        if self.family != GAUSSDB:
            return True
        if self.skip_locked is not None:  # probed: the server's grammar, not a release table, decides
            return self.skip_locked
        base = self.opengauss_base
        return base is not None and base >= (3, 1)

    @property
    def lax_number_input(self) -> bool:
        """True in B compatibility: text casts to integer / numeric without an error (``'abc'`` is 0,
        ``'12x'`` is 12: numutils.cpp); dolphin's strict sql_mode refuses them, but it can be turned
        off per session, so number text is checked in every B database."""
        return self.compatibility == "B"

    @property
    def empty_string_is_null(self) -> bool:
        """True in A compatibility mode, where '' and NULL are the same value."""
        return self.compatibility == "A"


class UnsupportedDialectError(ValueError):
    """The ``dialect`` extra names SQL the detected server cannot run (a configuration error)."""


def refuse_dialect(dialect: str | None, info: ServerInfo, conn_id: str | None = None) -> None:
    """Refuse ``dialect: postgres`` on a GaussDB / openGauss server: its upserts use ``ON CONFLICT``
    and the record image operator ``*=``, which openGauss does not have (gram.y, pg_operator.data)."""
    if dialect == POSTGRES and info.family == GAUSSDB:
        raise UnsupportedDialectError(
            f"Connection {conn_id or '?'}: the extra dialect='postgres' is set, but the server is "
            f"{info.product} {info.version!r} (sql_compatibility {info.compatibility}): the postgres dialect's "
            "SQL (INSERT ... ON CONFLICT, the *= operator) fails there. Remove the dialect extra (detection "
            "picks 'gaussdb') or set dialect='gaussdb'."
        )


SYNTAX_ERROR = "42601"


def _probe(cur: Cursor, sql: str, error: type[Exception]) -> tuple[Row | None, str | None]:
    """Run ``sql`` under a savepoint: (its first row, None), or (None, its SQLSTATE or "") when it fails."""
    cur.execute("SAVEPOINT gaussdb_batch_probe")
    try:
        cur.execute(sql)
        row = cur.fetchone()
    except error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT gaussdb_batch_probe")
        return None, str(getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None) or "")
    cur.execute("RELEASE SAVEPOINT gaussdb_batch_probe")
    return row, None


def _try_scalar(cur: Cursor, sql: str, error: type[Exception]) -> str | None:
    row, _ = _probe(cur, sql, error)
    return None if row is None or row[0] is None else str(row[0])


def probe_server(conn: Connection, error: type[Exception]) -> ServerInfo:
    """Probe a fresh, idle connection (autocommit off); leaves it idle again."""
    try:
        with conn.cursor() as cur:
            cur.execute(probes.VERSION_SQL)
            version_text = str(scalar(cur, "version()"))
            og_version = _try_scalar(cur, probes.OPENGAUSS_VERSION_SQL, error)
            compatibility = _try_scalar(cur, probes.COMPATIBILITY_SQL, error)
            present = _try_scalar(cur, probes.settings_present_sql(OPTIONAL_SETTINGS), error)
            is_gauss = og_version is not None or any(m in version_text.lower() for m in _GAUSS_MARKERS)
            ustore = data_nodes = dolphin = None
            if is_gauss:
                ustore = _try_scalar(cur, probes.DEFAULT_USTORE_SQL, error)
                data_nodes = _try_scalar(cur, probes.DATA_NODES_SQL, error)
                dolphin = _try_scalar(cur, probes.DOLPHIN_SQL, error)
            skip_locked = _probe(cur, probes.SKIP_LOCKED_PROBE, error)[1] != SYNTAX_ERROR
    finally:
        conn.rollback()
    info = ServerInfo(
        family=GAUSSDB if is_gauss else POSTGRES,
        # A GaussDB kernel or DWS names its own line in version(); openGauss's is opengauss_version().
        version=version_text if "gaussdb" in version_text.lower() else (og_version or version_text),
        compatibility=compatibility.upper() if compatibility else None,
        settings=frozenset(present.split(",")) if present else frozenset(),
        default_ustore=(ustore or "").lower() in ("on", "true", "1"),
        distributed=int(data_nodes or 0) > 0,
        skip_locked=skip_locked,
        dolphin=int(dolphin or 0) > 0,
    )
    if info.empty_string_is_null:
        log.warning(
            "The target database runs in sql_compatibility A: the empty string is stored as NULL, "
            "DATE is timestamp(0) and VARCHAR(n) counts bytes. Fingerprints treat '' and NULL alike; "
            "create the database with DBCOMPATIBILITY 'PG' to keep PostgreSQL semantics."
        )
    return info
