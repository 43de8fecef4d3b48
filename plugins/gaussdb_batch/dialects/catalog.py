"""Catalog reads, as Dialect methods: a table's columns, indexes and unique columns, schema probes, sizes.

Every read goes through ``pg_class``/``pg_namespace``/``pg_attribute``/``pg_index`` (no
``to_regclass``, no ``information_schema``: GaussDB has the catalogs, not every convenience).
The schema and table read are bound values, never pasted.
"""

from __future__ import annotations

from gaussdb_batch.dialects.core import DialectCore
from gaussdb_batch.identifiers import quote_ident as _q


class CatalogSQL(DialectCore):
    """Mixin of ``Dialect``: the catalog reads of pre-flight, extract and the upsert."""

    def table_columns_sql(self) -> str:
        """Columns of one table in order; params: schema, table."""
        return (
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory = 'S' "
            "FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE n.nspname = %(schema)s AND c.relname = %(table)s "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        )

    def table_exists_sql(self) -> str:
        """One row when the table exists; params: schema, table (no to_regclass on GaussDB)."""
        return (
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %(schema)s AND c.relname = %(table)s"
        )

    def query_columns_sql(self, query: str) -> str:
        """No rows, only the columns of a spec's source query (params: start, end)."""
        return f"SELECT * FROM ({query}) gb_probe WHERE false"

    def schema_exists_sql(self) -> str:
        return "SELECT 1 FROM pg_namespace WHERE nspname = %(schema)s"

    def create_schema_sql(self, schema: str) -> str:
        # No IF NOT EXISTS: older GaussDB releases lack it; callers probe first.
        return f"CREATE SCHEMA {_q(schema)}"

    def unique_columns_sql(self) -> str:
        """Names of the columns in any primary key or unique index of a table; params: schema, table."""
        return (
            "SELECT DISTINCT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) "
            "WHERE ns.nspname = %(schema)s AND c.relname = %(table)s AND i.indisunique AND a.attnum > 0 "
            "ORDER BY a.attname"
        )

    def unique_indexes_sql(self) -> str:
        """Primary key and unique indexes of a table as ``indkey`` text ("1 4"); params: schema, table."""
        return (
            "SELECT CAST(i.indkey AS text) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "WHERE ns.nspname = %(schema)s AND c.relname = %(table)s AND i.indisunique AND i.indpred IS NULL"
        )

    def index_columns_sql(self) -> str:
        """Every valid, non-partial index of a table as ``indkey`` text ("1 4"); params: schema, table."""
        return (
            "SELECT CAST(i.indkey AS text) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "WHERE ns.nspname = %(schema)s AND c.relname = %(table)s AND i.indpred IS NULL"
        )

    def column_numbers_sql(self) -> str:
        """attnum -> name of a table's columns; params: schema, table."""
        return (
            "SELECT a.attnum, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace ns ON ns.oid = c.relnamespace "
            "WHERE ns.nspname = %(schema)s AND c.relname = %(table)s AND a.attnum > 0 AND NOT a.attisdropped"
        )

    def target_size_sql(self) -> str:
        """What sizes a chunk's plans: reltuples and relpages at the last ANALYZE, the table's pages now.

        Params: schema, table. Rows now are estimated in Python as the planner does (density times
        current pages): no integer division in SQL (openGauss would return float8).
        """
        return (
            "SELECT c.reltuples, c.relpages, pg_relation_size(c.oid), current_setting('block_size') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %(schema)s AND c.relname = %(table)s"
        )
