"""Landing: put one data interval of the source into the run's landing table, in one transaction.

The landing table has the target's column types and numbers the interval 1..N in key order
(``_gb_seq``): reading the source is one statement (one snapshot) that parses every value
once, and the chunk statements cast nothing. When a value does not fit its type the typed
COPY fails as a whole; the interval is then landed again as text for that run, so bad
values surface per row at load (bisection isolates them) and cost time only when they
exist. Three paths: COPY from another database (binary when both sides allow it),
INSERT ... SELECT within one database, and the records of a file source (engine.files).
Every landing transaction is fenced: it writes only while this DAG run owns the attempt.
"""

from __future__ import annotations

import datetime as dt

from gaussdb_batch.dialects import SEQ, GaussDBDialect
from gaussdb_batch.dialects.base import base_type
from gaussdb_batch.engine import state
from gaussdb_batch.engine.choices import SourceKind
from gaussdb_batch.engine.context import BatchContext, layout_of, log
from gaussdb_batch.engine.files import FileReject, FileSource, file_blocks
from gaussdb_batch.engine.state import ChunkStatus, RunStatus
from gaussdb_batch.hooks.dbapi import Connection, Cursor
from gaussdb_batch.hooks.detect import major_version
from gaussdb_batch.hooks.errors import PermanentDBError

#: Errors of a typed landing that a text landing turns into per-row rejects at load: data errors,
#: and a source column whose type has no assignment cast to the target's (same-database path).
_TYPED_LANDING_FALLBACK = ("22", "23", "42804")


def prepare_landing(cur: Cursor, ctx: BatchContext, run_id: int, typed: bool) -> None:
    d, landing = ctx.dialect, ctx.landing(run_id)
    state.fence(cur, ctx, run_id, RunStatus.EXTRACTING)
    _journal_landed_keys(cur, ctx, run_id)
    cur.execute(d.drop_table_sql(landing))
    cur.execute(d.for_landing(typed).create_landing_sql(landing, ctx.columns))
    for table in ("chunks", "rejects", "reconciliation"):
        cur.execute(d.delete_run_rows_sql(ctx.schema, table), {"run_id": run_id})


def _journal_landed_keys(cur: Cursor, ctx: BatchContext, run_id: int) -> None:
    """Re-extract after chunks loaded: the keys they inserted move into the journal before the landing goes.

    Compensation deletes a run's inserted keys by reading its landing; replacing the landing
    would forget rows already written, so they become 'I' journal entries first (rare: an
    attempt given up mid-load and extracted again).
    """
    d, landing = ctx.dialect, ctx.landing(run_id)
    cur.execute(d.table_columns_sql(), {"schema": landing.schema, "table": landing.name})
    typed = layout_of(ctx.columns, [tuple(r) for r in cur.fetchall()])
    if typed is None:
        return
    cur.execute(d.for_landing(typed).journal_landed_keys_sql(ctx.schema, ctx.undo, landing, ctx.key_columns),
                {"run_id": run_id, "compensated": ChunkStatus.COMPENSATED.value})
    if cur.rowcount and cur.rowcount > 0:
        log.info("batch=%s run=%s: journaled %s keys loaded from the landing being replaced",
                 ctx.spec.name, run_id, cur.rowcount)
    cur.execute(d.forget_exact_marks_sql(ctx.undo, ctx.key_columns), {"run_id": run_id})  # now all exact


def _source_select(ctx: BatchContext, *, bind: bool, start: dt.datetime, end: dt.datetime,
                   typed: bool, keys_where: str | None = None) -> tuple[str, dict]:
    """The numbered source query (values as they are, or as text); bound params, or literals for COPY.

    ``keys_where`` (a repair run's): the source rows of these keys instead of the interval's.
    """
    src, d = ctx.spec.source, ctx.dialect.for_landing(typed)
    order = ctx.spec.keys if src.order_by_key else ()
    # With a unique source key no key repeats: ordering by tie_break would only cost a sort key.
    tie_break = () if ctx.source_keys_unique else src.tie_break
    sql = d.source_select_sql(
        ctx.columns, table=src.table, interval_column=None if keys_where else src.interval_column, query=src.sql,
        order_by=order, tie_break=tie_break, where=keys_where,
    )
    params = {"start": start, "end": end}
    if bind:
        return sql, params
    # COPY cannot bind parameters: inline the interval as typed literals of datetimes.
    return sql % {"start": d.timestamp_literal(start), "end": d.timestamp_literal(end)}, {}


def land(ctx: BatchContext, run_id: int, start: dt.datetime, end: dt.datetime, *,
         keys_where: str | None = None) -> list[FileReject]:
    """Fill the landing table, typed when every value fits, else as text; return file rejects.

    ``keys_where``: a repair run's source rows (engine.repair), a predicate over a source table.
    """
    if keys_where is not None and ctx.spec.source.kind != SourceKind.TABLE:
        raise ValueError("a key filter lands rows of a source table only")
    if ctx.spec.source.kind == SourceKind.FILES:
        # File values arrive as text anyway: the text landing parses each one once, at load.
        return _land_as(ctx, run_id, start, end, typed=False)
    d = ctx.dialect
    if isinstance(d, GaussDBDialect) and not d.lands_typed(ctx.columns):
        # sql_compatibility B casts bad number text to 0 without an error, in a typed landing's COPY
        # too: land text, whose number values the load checks before it casts them.
        return _land_as(ctx, run_id, start, end, typed=False, keys_where=keys_where)
    try:
        return _land_as(ctx, run_id, start, end, typed=True, keys_where=keys_where)
    except PermanentDBError as exc:
        code = exc.sqlstate or ""
        if not code.startswith(_TYPED_LANDING_FALLBACK):
            raise
        log.warning("batch=%s run=%s: a source value does not fit the target's types (SQLSTATE %s: %s); "
                    "landing the interval as text so the load isolates the bad rows", ctx.spec.name, run_id,
                    code, str(exc).splitlines()[0][:300])
        return _land_as(ctx, run_id, start, end, typed=False, keys_where=keys_where)


def _land_as(ctx: BatchContext, run_id: int, start: dt.datetime, end: dt.datetime, *,
             typed: bool, keys_where: str | None = None) -> list[FileReject]:
    spec, d = ctx.spec, ctx.dialect
    landing = ctx.landing(run_id)
    names = [SEQ] + [c.name for c in ctx.columns]
    ctx.set_landing_layout(run_id, None)

    def finish_landing(cur: Cursor) -> None:
        cur.execute(d.landing_index_sql(landing))

    def analyze_landing() -> None:
        # After the commit, in autocommit: openGauss refuses ANALYZE of a table that is not
        # temporary inside a transaction block (utility.cpp, PreventTransactionChain: 25001).
        ctx.outside_tx(d.analyze_sql(landing, [SEQ, *ctx.spec.keys]), purpose=f"gather planner statistics on the landing of run {run_id}")

    if spec.source.kind == SourceKind.FILES:
        rejects: list[FileReject] = []
        reader = _file_source(ctx)

        def land_files(conn: Connection) -> None:
            rejects.clear()
            with conn.cursor() as cur:
                prepare_landing(cur, ctx, run_id, typed)
                for block in file_blocks(reader, start, end, rejects):
                    ctx.target_hook.driver.copy_in(cur, d.copy_in_sql(landing, names), block)
                finish_landing(cur)

        ctx.tx(land_files, purpose=f"land files {spec.source.files} for run {run_id}")
        analyze_landing()
        ctx.set_landing_layout(run_id, typed)
        return rejects

    if spec.same_db:
        sql, params = _source_select(ctx, bind=True, start=start, end=end, typed=typed, keys_where=keys_where)

        def land_same_db(conn: Connection) -> None:
            with conn.cursor() as cur:
                prepare_landing(cur, ctx, run_id, typed)
                cur.execute(d.insert_landing_from_select_sql(landing, ctx.columns, sql), params)
                finish_landing(cur)

        ctx.tx(land_same_db, purpose=f"land the interval with INSERT ... SELECT for run {run_id}")
        analyze_landing()
        ctx.set_landing_layout(run_id, typed)
        return []

    from gaussdb_batch.hooks.copy_pipe import copy_between

    sql, _ = _source_select(ctx, bind=False, start=start, end=end, typed=typed, keys_where=keys_where)
    binary = binary_copy(ctx, typed)
    out_sql = d.copy_out_sql(sql, binary=binary)
    in_sql = d.copy_in_sql(landing, names, binary=binary)
    src_hook = ctx.source_hook

    def land_copy(conn: Connection) -> None:
        with conn.cursor() as cur:
            prepare_landing(cur, ctx, run_id, typed)
        src = src_hook.get_conn()
        try:
            moved = copy_between(src_hook, src, out_sql, ctx.target_hook, conn, in_sql)
            src.rollback()
        finally:
            src.close()
        with conn.cursor() as cur:
            finish_landing(cur)
        log.info("batch=%s run=%s: streamed %.1f MiB from the source with COPY (%s) into a %s landing", spec.name,
                 run_id, moved / 2**20, "binary" if binary else "csv", "typed" if typed else "text")

    ctx.tx(land_copy, purpose=f"stream the interval with COPY for run {run_id}")
    analyze_landing()
    ctx.set_landing_layout(run_id, typed)
    return []


#: Types whose binary COPY form carries no type OID and no server-local number (arrays, enums,
#: composites and user types do): only these may travel in binary.
BINARY_SAFE_TYPES = frozenset({
    "smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean", "text",
    "character varying", "character", "bpchar", "date", "time without time zone", "time with time zone",
    "timestamp without time zone", "timestamp with time zone", "interval", "bytea", "uuid", "json", "jsonb",
})


def binary_copy(ctx: BatchContext, typed: bool) -> bool:
    """Whether the extract's COPY may move the interval in binary instead of csv.

    Binary skips formatting every value as text at the source and parsing it at the target.
    It is used only when the landing is typed, both servers are PostgreSQL of one major
    version, and the source is a table whose every target column has exactly the target's
    type (same name and modifier) from BINARY_SAFE_TYPES: then each value's binary form is
    the landing's, and typmod checks at the landing are those of csv. Otherwise (GaussDB,
    a source query, a type that differs): csv.
    """
    src = ctx.spec.source
    if not typed or src.kind != SourceKind.TABLE or src.table is None:
        return False
    s_hook, t_hook = ctx.source_hook, ctx.target_hook
    if not (s_hook.dialect.caps.binary_copy and ctx.dialect.caps.binary_copy):
        return False
    major = major_version(s_hook.server_info.version)
    if major is None or major != major_version(t_hook.server_info.version):
        return False
    types = ctx.source_column_types
    return all(types.get(c.name) == c.type_sql and base_type(c.type_sql) in BINARY_SAFE_TYPES for c in ctx.columns)


def _file_source(ctx: BatchContext) -> FileSource:
    return FileSource(batch=ctx.spec.name, source=ctx.spec.source, columns=tuple(c.name for c in ctx.columns),
                      block_rows=ctx.spec.chunk_rows)
