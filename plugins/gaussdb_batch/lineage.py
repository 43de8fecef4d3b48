"""OpenLineage datasets and facets of a batch's tasks (apache-airflow-providers-openlineage).

The operators' ``get_openlineage_facets_on_complete`` call these with what their ``execute``
returned; the provider's listener sends the events. What each task reports:

* extract: the source as input (a table, the tables a query reads, or files) with the rows it read;
* load (each lane): the target as output with the rows that lane wrote;
* check: the target as input with its checks as data-quality assertions (chunk reconciliation
  by count and fingerprint, the spec's built-in checks, the expectation suite) and the row count;
* finalize: source in, target out with the run's rows written: the edge a lineage graph shows.

Names follow OpenLineage's naming spec for PostgreSQL (namespace ``postgres://host:port``, name
``database.schema.table``), the same dataset as the target's Airflow Asset; files are
``file`` datasets named by their path pattern. Connections are looked up, never connected to.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gaussdb_batch.assets import DEFAULT_PORT
from gaussdb_batch.engine.choices import SourceKind
from gaussdb_batch.engine.spec import BatchSpec
from gaussdb_batch.identifiers import TableRef

log = logging.getLogger(__name__)


def _namespace_and_database(conn_id: str) -> tuple[str, str]:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    host = (conn.host or "localhost").lower()
    return f"postgres://{host}:{int(conn.port or DEFAULT_PORT)}", conn.schema or ""


def table_dataset(conn_id: str, schema: str, table: str, facets: dict | None = None, *, output: bool = False,
                  io_facets: dict | None = None) -> Any:
    """An OpenLineage input (or output) dataset for a table reached through an Airflow connection."""
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    namespace, database = _namespace_and_database(conn_id)
    name = ".".join(p for p in (database, schema, table) if p)
    if output:
        return OutputDataset(namespace=namespace, name=name, facets=facets or {}, outputFacets=io_facets or {})
    return InputDataset(namespace=namespace, name=name, facets=facets or {}, inputFacets=io_facets or {})


def target_dataset(spec: BatchSpec, *, output: bool, io_facets: dict | None = None) -> Any:
    t: TableRef = spec.target.table
    return table_dataset(spec.target.conn_id, t.schema, t.name, output=output, io_facets=io_facets)


def _query_tables(sql: str) -> list[tuple[str, str]]:
    """(schema, table) of the tables a source query reads, by OpenLineage's SQL parser."""
    from openlineage_sql import parse

    # The parser does not know psycopg's %(start)s placeholders: a literal stands in for each.
    meta = parse([re.sub(r"%\((\w+)\)s", "NULL", sql)], dialect="postgres", default_schema="public")
    if meta is None:
        return []
    return [(t.schema or "public", t.name) for t in meta.in_tables]


def source_datasets(spec: BatchSpec, rows: int | None = None) -> list[Any]:
    """The batch's inputs: its source table, the tables its query reads, or its files."""
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.generated.input_statistics_input_dataset import InputStatisticsInputDatasetFacet

    io: dict[str, Any] = {"inputStatistics": InputStatisticsInputDatasetFacet(rowCount=rows)} if rows is not None else {}
    src = spec.source
    if src.kind == SourceKind.FILES:
        return [InputDataset(namespace="file", name=str(src.files), inputFacets=io)]
    if src.conn_id is None:
        return []
    if src.kind == SourceKind.TABLE and src.table is not None:
        return [table_dataset(src.conn_id, src.table.schema, src.table.name, io_facets=io)]
    tables = _query_tables(src.sql or "")
    # A row count belongs to the query, not to each table it joins: only a single table carries it.
    return [table_dataset(src.conn_id, schema, name, io_facets=io if len(tables) == 1 else {})
            for schema, name in tables]


def sql_job_facets(spec: BatchSpec) -> dict[str, Any]:
    if spec.source.kind != SourceKind.SQL or not spec.source.sql:
        return {}
    from openlineage.client.generated.sql_job import SQLJobFacet

    return {"sql": SQLJobFacet(query=spec.source.sql)}


def output_with_rows(spec: BatchSpec, rows: int | None) -> Any:
    from openlineage.client.generated.output_statistics_output_dataset import OutputStatisticsOutputDatasetFacet

    io = {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows)} if rows is not None else {}
    return target_dataset(spec, output=True, io_facets=io)


def check_assertions(spec: BatchSpec, result: dict[str, Any]) -> list[Any]:
    """The check task's results as OpenLineage assertions (only passing runs reach on_complete)."""
    from openlineage.client.generated.data_quality_assertions_dataset import Assertion

    out = [Assertion(assertion="reconciliation", success=True, name="count_and_fingerprint",
                     description=f"{result.get('chunks')} chunks: landing and target agree by row count and "
                                 f"NULL-safe fingerprint ({len(result.get('repaired') or [])} repaired)")]
    quality = result.get("quality") or {}
    for name, violations in (quality.get("builtin") or {}).items():
        kind, _, rest = name.partition("(")
        out.append(Assertion(assertion=kind, success=not violations, column=rest.rstrip(")") or None, name=name,
                             actual=str(violations)))
    suite = quality.get("expectations") or {}
    for entry in suite.get("expectations") or []:
        kwargs = entry.get("kwargs") or {}
        out.append(Assertion(assertion=str(entry.get("type")), success=bool(entry.get("success")),
                             column=kwargs.get("column"), name=str(entry.get("expectation")),
                             severity=entry.get("severity"), description=f"suite {suite.get('suite')}"))
    return out


def operator_lineage(inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                     job_facets: dict[str, Any] | None = None) -> Any:
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=inputs or [], outputs=outputs or [], job_facets=job_facets or {})


def extract_lineage(spec: BatchSpec, result: dict[str, Any] | None) -> Any:
    rows = (result or {}).get("rows")
    return operator_lineage(inputs=source_datasets(spec, rows), job_facets=sql_job_facets(spec))


def load_lineage(spec: BatchSpec, result: dict[str, Any] | None) -> Any:
    return operator_lineage(outputs=[output_with_rows(spec, (result or {}).get("rows_written"))])


def check_lineage(spec: BatchSpec, result: dict[str, Any] | None) -> Any:
    from openlineage.client.generated.data_quality_assertions_dataset import DataQualityAssertionsDatasetFacet
    from openlineage.client.generated.data_quality_metrics_input_dataset import DataQualityMetricsInputDatasetFacet

    result = result or {}
    io = {"dataQualityAssertions": DataQualityAssertionsDatasetFacet(assertions=check_assertions(spec, result)),
          "dataQualityMetrics": DataQualityMetricsInputDatasetFacet(rowCount=result.get("rows"), columnMetrics={})}
    return operator_lineage(inputs=[target_dataset(spec, output=False, io_facets=io)])


def finalize_lineage(spec: BatchSpec, result: dict[str, Any] | None) -> Any:
    result = result or {}
    return operator_lineage(inputs=source_datasets(spec, result.get("rows_extracted")),
                            outputs=[output_with_rows(spec, result.get("rows_loaded"))],
                            job_facets=sql_job_facets(spec))
