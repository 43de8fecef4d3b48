"""The batch's target table as an Airflow Asset, and the extra of the event a good run emits.

The URI follows the PostgreSQL convention of Airflow's postgres provider (AIP-60) and of
OpenLineage: ``postgres://host:port/database/schema/table``. GaussDB and openGauss speak the
PostgreSQL protocol and OpenLineage's naming spec has no other scheme for them, so the same
table is one dataset whether this project, a SQL operator or a lineage consumer names it.

The URI is built when the DAG is parsed, from the target connection's host, port and database
(``schema`` field): the connection must be resolvable where DAGs are parsed (an environment
variable, a secrets backend, or the metadata database through the dag-processor). The Asset's
name is its URI: Airflow keeps one active asset per name, so a name shared by two URIs (the
same batch pointed at another database) would make one of them inactive and fail the task that
emits it. Nothing here connects to the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Asset

from gaussdb_batch.engine.spec import BatchSpec
from gaussdb_batch.identifiers import TableRef

log = logging.getLogger(__name__)

#: Default port of the URI when the connection names none (the PostgreSQL convention).
DEFAULT_PORT = 5432
#: Keys of an asset event's extra, written by the finalize task of a good run.
EXTRA_KEYS = ("batch", "run_id", "attempt", "interval_start", "interval_end", "rows_written", "rows_rejected",
              "chunks")


class AssetConfigError(ValueError):
    """The target connection cannot give the Asset URI (no host or no database)."""


def table_uri(host: str, port: int | None, database: str, table: TableRef) -> str:
    """``postgres://host:port/database/schema/table`` (the AIP-60 / OpenLineage postgres form)."""
    if not host:
        raise AssetConfigError("the connection has no host")
    if not database:
        raise AssetConfigError("the connection has no database (the 'schema' field of the connection)")
    return f"postgres://{host.lower()}:{int(port or DEFAULT_PORT)}/{database}/{table.schema}/{table.name}"


def connection_uri(conn_id: str, table: TableRef) -> str:
    """The table's URI from an Airflow connection (looked up, never connected to)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    try:
        return table_uri(conn.host or "", conn.port, conn.schema or "", table)
    except AssetConfigError as exc:
        raise AssetConfigError(f"connection {conn_id!r}: {exc}; the Asset URI of {table.schema}.{table.name} "
                               "needs host, port and database") from None


def target_asset(spec: BatchSpec) -> Asset:
    """The batch's target table as an Asset (raises when its connection cannot be resolved)."""
    uri = connection_uri(spec.target.conn_id, spec.target.table)
    return Asset(uri=uri, group="gaussdb_batch",
                 extra={"batch": spec.name, "table": f"{spec.target.table.schema}.{spec.target.table.name}"})


def target_outlets(spec: BatchSpec) -> list[Asset]:
    """The finalize task's outlets: the target Asset, or none (with a warning) when the target
    connection is not resolvable where the DAG is parsed; the batch itself runs either way."""
    try:
        return [target_asset(spec)]
    except Exception as exc:  # noqa: BLE001 - a missing connection must not break parsing the batch
        log.warning("batch=%s: no Asset for target %s.%s (downstream DAGs cannot schedule on it): %s",
                    spec.name, spec.target.table.schema, spec.target.table.name, exc)
        return []


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else (str(value) if value is not None else None)


def event_extra(spec: BatchSpec, summary: dict[str, Any], run: Any) -> dict[str, Any]:
    """The asset event's extra for a finished run: its interval, counts and control-schema run id."""
    return {
        "batch": spec.name,
        "run_id": summary.get("run_id"),
        "attempt": getattr(run, "attempt", None),
        "interval_start": _iso(getattr(run, "interval_start", None)),
        "interval_end": _iso(getattr(run, "interval_end", None)),
        "rows_written": summary.get("rows_loaded"),
        "rows_rejected": summary.get("rows_rejected"),
        "chunks": summary.get("chunks"),
    }
