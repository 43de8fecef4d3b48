"""Extract: land one data interval in the target database, once, then plan its chunks.

The landing table has the target's column types and numbers the interval 1..N in key order
(``_gb_seq``): reading the source is one statement (one snapshot) that parses every value
once, and the chunk statements cast nothing. When a value does not fit its type the typed
COPY fails as a whole; the interval is then landed again as text for that run, so bad
values surface per row at load (bisection isolates them) and cost time only when they
exist. The attempt is begun (or resumed, or taken over
after its owner died) through engine.state; an attempt whose plan is complete is resumed as
it is (chunks already DONE stay done), one that failed or died while extracting is extracted
again: its landing and plan are replaced, and rows already loaded keep their first
before-image in the undo journal, so compensation still restores the pre-run state exactly.
Every landing and planning transaction is fenced: it writes only while this DAG run owns
the attempt. An extract that fails marks the attempt FAILED (resumable), never EXTRACTING.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import io
import json
import time
from dataclasses import dataclass
from typing import Any

from gaussdb_batch import metrics
from gaussdb_batch.dialects import SEQ, GaussDBDialect
from gaussdb_batch.dialects.base import base_type
from gaussdb_batch.engine import state
from gaussdb_batch.engine.context import BatchContext, layout_of, log
from gaussdb_batch.engine.control import chunk_rows_in, ensure_control_schema, get_run
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.rejects import count_rejects, insert_reject
from gaussdb_batch.engine.state import PURGE_CHUNK, ChunkStatus, RunStatus
from gaussdb_batch.hooks.dbapi import Connection, Cursor
from gaussdb_batch.hooks.detect import major_version
from gaussdb_batch.hooks.errors import PermanentDBError

#: Errors of a typed landing that a text landing turns into per-row rejects at load: data errors,
#: and a source column whose type has no assignment cast to the target's (same-database path).
_TYPED_LANDING_FALLBACK = ("22", "23", "42804")
#: Chunk rows updated per statement when the plan stores the landing fingerprints.
STORE_BATCH = 500


@dataclass(frozen=True)
class ExtractResult:
    run_id: int
    attempt: int
    resumed: bool
    rows: int
    rejected: int
    chunks: int
    seconds: float


def extract(ctx: BatchContext, start: dt.datetime, end: dt.datetime) -> ExtractResult:
    """Land [start, end) of the source and persist the chunk plan; return the run."""
    spec = ctx.spec
    if end <= start:
        raise PermanentBatchError(spec.name, f"empty data interval {start.isoformat()} .. {end.isoformat()}")
    t0 = time.monotonic()
    ctx.prepare()
    _require_key_index(ctx)
    ensure_control_schema(ctx)
    begun = state.begin(ctx, start, end)
    run_id = begun.run_id
    if begun.planned:
        run = get_run(ctx, run_id)
        log.info("batch=%s run=%s: resuming attempt %s as %s: its landing and plan are complete, loading the "
                 "chunks not yet DONE", spec.name, run_id, begun.attempt, ctx.owner)
        rows = int(run.rows_extracted or 0) - int(run.rows_rejected or 0)
        return ExtractResult(run_id, begun.attempt, True, rows, int(run.rows_rejected or 0),
                             int(run.chunks_total or 0), time.monotonic() - t0)
    log.info(
        "batch=%s run=%s: extracting %s .. %s (attempt %s%s) into %s",
        spec.name, run_id, start.isoformat(), end.isoformat(), begun.attempt, ", resumed" if begun.resumed else "",
        ctx.landing(run_id),
    )
    try:
        unique = ctx.source_keys_unique = source_keys_are_unique(ctx)
        file_rejects = _land(ctx, run_id, start, end)
        rows, rejected, chunks, chunk_rows = _plan(ctx, run_id, file_rejects, unique)
    except BaseException as exc:
        if not isinstance(exc, state.NotOwnedError):
            state.fail(ctx, run_id, f"extract failed: {exc}"[:2000])
        raise
    seconds = time.monotonic() - t0
    metrics.rows_extracted(spec.name, rows)
    # How far behind its schedule the batch is: the age of the interval's end at extract time.
    metrics.lag_seconds(spec.name, max((dt.datetime.now(dt.timezone.utc) - end).total_seconds(), 0.0))
    log.info(
        "batch=%s run=%s: landed %s rows (%s rejected) in %.1fs, planned %s chunks of up to %s rows",
        spec.name, run_id, rows, rejected, seconds, chunks, chunk_rows,
    )
    total_rejects = count_rejects(ctx, run_id)
    if total_rejects > spec.max_rejects:
        message = (f"{total_rejects} rows rejected at extract exceed max_rejects={spec.max_rejects}; "
                   f"see {ctx.schema}.rejects")
        state.fail(ctx, run_id, message)
        raise PermanentBatchError(spec.name, message, run_id=run_id)
    return ExtractResult(run_id, begun.attempt, begun.resumed, rows, rejected, chunks, seconds)


def _require_key_index(ctx: BatchContext) -> None:
    """Every chunk probes the target by key: without an index on the keys each probe is a scan."""
    d, t = ctx.dialect, ctx.target
    params = {"schema": t.schema, "table": t.name}
    numbers = {int(n): name for n, name in ctx.all(d.column_numbers_sql(), params,
                                                      purpose=f"read the columns of {t}")}
    keys = set(ctx.spec.keys)
    for (indkey,) in ctx.all(d.index_columns_sql(), params, purpose=f"read the indexes of {t}"):
        cols = [numbers.get(int(n)) for n in str(indkey).split()]
        if set(cols[: len(keys)]) == keys:
            return
    raise PermanentBatchError(
        ctx.spec.name,
        f"target {t} has no index on its key columns {list(ctx.spec.keys)}: every chunk would scan the whole "
        f"table. Create one first, e.g. CREATE UNIQUE INDEX ON {t.sql} ({', '.join(ctx.spec.keys)})",
    )


# --------------------------------------------------------------------------- landing
def _prepare_landing(cur: Cursor, ctx: BatchContext, run_id: int, typed: bool) -> None:
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
    typed = layout_of(ctx.columns, cur.fetchall())
    if typed is None:
        return
    cur.execute(d.for_landing(typed).journal_landed_keys_sql(ctx.schema, ctx.undo, landing, ctx.key_columns),
                {"run_id": run_id, "compensated": ChunkStatus.COMPENSATED.value})
    if cur.rowcount and cur.rowcount > 0:
        log.info("batch=%s run=%s: journaled %s keys loaded from the landing being replaced",
                 ctx.spec.name, run_id, cur.rowcount)


def _source_select(ctx: BatchContext, *, bind: bool, start: dt.datetime, end: dt.datetime,
                   typed: bool) -> tuple[str, dict]:
    """The numbered source query (values as they are, or as text); bound params, or literals for COPY."""
    src, d = ctx.spec.source, ctx.dialect.for_landing(typed)
    order = ctx.spec.keys if src.order_by_key else ()
    # With a unique source key no key repeats: ordering by tie_break would only cost a sort key.
    tie_break = () if ctx.source_keys_unique else src.tie_break
    sql = d.source_select_sql(
        ctx.columns, table=src.table, interval_column=src.interval_column, query=src.sql, order_by=order,
        tie_break=tie_break,
    )
    params = {"start": start, "end": end}
    if bind:
        return sql, params
    # COPY cannot bind parameters: inline the interval as typed literals of datetimes.
    return sql % {"start": d.timestamp_literal(start), "end": d.timestamp_literal(end)}, {}


def _land(ctx: BatchContext, run_id: int, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Fill the landing table, typed when every value fits, else as text; return file rejects."""
    if ctx.spec.source.kind == "files":
        # File values arrive as text anyway: the text landing parses each one once, at load.
        return _land_as(ctx, run_id, start, end, typed=False)
    d = ctx.dialect
    if isinstance(d, GaussDBDialect) and not d.lands_typed(ctx.columns):
        # sql_compatibility B casts bad number text to 0 without an error, in a typed landing's COPY
        # too: land text, whose number values the load checks before it casts them.
        return _land_as(ctx, run_id, start, end, typed=False)
    try:
        return _land_as(ctx, run_id, start, end, typed=True)
    except PermanentDBError as exc:
        code = exc.sqlstate or ""
        if not code.startswith(_TYPED_LANDING_FALLBACK):
            raise
        log.warning("batch=%s run=%s: a source value does not fit the target's types (SQLSTATE %s: %s); "
                    "landing the interval as text so the load isolates the bad rows", ctx.spec.name, run_id,
                    code, str(exc).splitlines()[0][:300])
        return _land_as(ctx, run_id, start, end, typed=False)


def _land_as(ctx: BatchContext, run_id: int, start: dt.datetime, end: dt.datetime, *, typed: bool) -> list[dict]:
    spec, d = ctx.spec, ctx.dialect
    landing = ctx.landing(run_id)
    names = [SEQ] + [c.name for c in ctx.columns]
    ctx.set_landing_layout(run_id, None)

    def finish_landing(cur: Cursor) -> None:
        cur.execute(d.landing_index_sql(landing))

    def analyze_landing() -> None:
        # After the commit, in autocommit: openGauss refuses ANALYZE of a table that is not
        # temporary inside a transaction block (utility.cpp, PreventTransactionChain: 25001).
        ctx.outside_tx(d.analyze_sql(landing, [SEQ, *ctx.spec.keys]), purpose=f"analyze the landing of run {run_id}")

    if spec.source.kind == "files":
        rejects: list[dict] = []

        def land_files(conn: Connection) -> None:
            rejects.clear()
            with conn.cursor() as cur:
                _prepare_landing(cur, ctx, run_id, typed)
                for block in _file_blocks(ctx, start, end, rejects):
                    ctx.target_hook.driver.copy_in(cur, d.copy_in_sql(landing, names), block)
                finish_landing(cur)

        ctx.tx(land_files, purpose=f"land files {spec.source.files} for run {run_id}")
        analyze_landing()
        ctx.set_landing_layout(run_id, typed)
        return rejects

    if spec.same_db:
        sql, params = _source_select(ctx, bind=True, start=start, end=end, typed=typed)

        def land_same_db(conn: Connection) -> None:
            with conn.cursor() as cur:
                _prepare_landing(cur, ctx, run_id, typed)
                cur.execute(d.insert_landing_from_select_sql(landing, ctx.columns, sql), params)
                finish_landing(cur)

        ctx.tx(land_same_db, purpose=f"land the interval with INSERT ... SELECT for run {run_id}")
        analyze_landing()
        ctx.set_landing_layout(run_id, typed)
        return []

    from gaussdb_batch.hooks.copy_pipe import copy_between

    sql, _ = _source_select(ctx, bind=False, start=start, end=end, typed=typed)
    binary = _binary_copy(ctx, typed)
    out_sql = d.copy_out_sql(sql, binary=binary)
    in_sql = d.copy_in_sql(landing, names, binary=binary)
    src_hook = ctx.source_hook

    def land_copy(conn: Connection) -> None:
        with conn.cursor() as cur:
            _prepare_landing(cur, ctx, run_id, typed)
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


def _binary_copy(ctx: BatchContext, typed: bool) -> bool:
    """Whether the extract's COPY may move the interval in binary instead of csv.

    Binary skips formatting every value as text at the source and parsing it at the target.
    It is used only when the landing is typed, both servers are PostgreSQL of one major
    version, and the source is a table whose every target column has exactly the target's
    type (same name and modifier) from BINARY_SAFE_TYPES: then each value's binary form is
    the landing's, and typmod checks at the landing are those of csv. Otherwise (GaussDB,
    a source query, a type that differs): csv.
    """
    src = ctx.spec.source
    if not typed or src.kind != "table" or src.table is None:
        return False
    s_hook, t_hook = ctx.source_hook, ctx.target_hook
    if not (s_hook.dialect.binary_copy and ctx.dialect.binary_copy):
        return False
    major = major_version(s_hook.server_info.version)
    if major is None or major != major_version(t_hook.server_info.version):
        return False
    sql, params = s_hook.dialect.table_columns_sql(), {"schema": src.table.schema, "table": src.table.name}

    def read(conn: Connection) -> dict[str, str]:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return {r[0]: r[1] for r in cur.fetchall()}

    types = s_hook.run_in_transaction(read, purpose=f"{ctx.spec.name}: read the column types of {src.table}")
    return all(types.get(c.name) == c.type_sql and base_type(c.type_sql) in BINARY_SAFE_TYPES for c in ctx.columns)


def _file_blocks(ctx: BatchContext, start: dt.datetime, end: dt.datetime, rejects: list[dict]):
    """CSV blocks of at most chunk_rows rows from the source files (bounded memory).

    A record that cannot be placed exactly (wrong number of fields, an interval value that is
    missing or not a timestamp, bytes the database cannot store) becomes a reject naming its
    file and line; it never shifts, turns into NULLs, vanishes, or fails the whole extract.
    """
    src = ctx.spec.source
    pattern = src.files.format(start=start, end=end)  # type: ignore[union-attr]
    paths = sorted(glob.glob(pattern))
    if not paths:
        log.warning("batch=%s: no file matches %s", ctx.spec.name, pattern)
    cols = [c.name for c in ctx.columns]
    seq = 0
    for path in paths:
        records = _parquet_records(ctx, path) if src.file_format == "parquet" else _csv_records(ctx, path, cols)
        for block in _batches(records, ctx.spec.chunk_rows):
            block = _in_interval(ctx, path, block, start, end, rejects, cols)
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            for line, texts, problem in block:
                seq += 1
                problem = problem or _bad_text(texts)
                if problem is not None:
                    state_code, message = problem if isinstance(problem, tuple) else ("22021", problem)
                    rejects.append(_file_reject(ctx, path, line, seq, cols, texts, message, state_code))
                    continue
                writer.writerow([seq, *("" if t is None else t for t in texts)])
            yield io.BytesIO(buf.getvalue().encode("utf-8", "surrogateescape"))


def _csv_records(ctx: BatchContext, path: str, cols: list[str]):
    """(line, values in target column order, problem) per CSV record; '' is NULL."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        missing = [c for c in cols if c not in header]
        if missing:
            raise PermanentBatchError(ctx.spec.name, f"file {path} lacks target columns {missing}")
        where = [header.index(c) for c in cols]
        line = reader.line_num + 1
        for fields in reader:
            first, line = line, reader.line_num + 1
            if not fields:
                continue  # a blank line holds no record
            texts = [None if fields[i] == "" else fields[i] for i in where] if len(fields) == len(header) else None
            if texts is None:
                problem = ("22P04", f"line {first}: {len(fields)} fields, the header has {len(header)}")
                texts = [None if i >= len(fields) or fields[i] == "" else fields[i] for i in where]
            else:
                problem = None
            yield first, texts, problem


def _parquet_records(ctx: BatchContext, path: str):
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=ctx.spec.chunk_rows):
        frame = batch.to_pandas()
        cols = [c.name for c in ctx.columns]
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise PermanentBatchError(ctx.spec.name, f"file {path} lacks target columns {missing}")
        for values in frame[cols].itertuples(index=False, name=None):
            row += 1
            yield row, [None if _is_null(v) else str(v) for v in values], None


def _batches(records, size: int):
    block: list = []
    for r in records:
        block.append(r)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


def _in_interval(ctx: BatchContext, path: str, block: list, start: dt.datetime, end: dt.datetime,
                 rejects: list[dict], cols: list[str]) -> list:
    """The block's records inside [start, end); a missing or unparseable interval value is a problem."""
    ic = ctx.spec.source.interval_column
    if ic is None:
        return block
    import pandas as pd

    at = cols.index(ic) if ic in cols else None
    if at is None:
        raise PermanentBatchError(ctx.spec.name, f"source.interval_column {ic!r} is not a target column")
    raw = [texts[at] for _, texts, _ in block]
    when = pd.to_datetime(pd.Series(raw, dtype=object), utc=True, errors="coerce", format="mixed")
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    out = []
    for (line, texts, problem), value, w in zip(block, raw, when):
        if problem is None and value is None:
            problem = ("22007", f"line {line}: interval column {ic} is empty: the row cannot be placed in an interval")
        elif problem is None and pd.isna(w):
            problem = ("22007", f"line {line}: interval column {ic} value {value!r} is not a timestamp")
        elif problem is None and not (lo <= w < hi):
            continue  # another interval's row
        out.append((line, texts, problem))
    return out


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _bad_text(texts: list[str | None]) -> str | None:
    for t in texts:
        if t is None:
            continue
        if "\x00" in t:
            return "invalid byte sequence for encoding \"UTF8\": 0x00"
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            return "invalid byte sequence for encoding \"UTF8\""
    return None


def _file_reject(ctx: BatchContext, path: str, line: int, seq: int, cols: list[str], texts: list, message: str,
                 sqlstate: str = "22021") -> dict:
    printable = {c: (t.encode("utf-8", "backslashreplace").decode() if t else t) for c, t in zip(cols, texts)}
    where = "" if message.startswith("line ") else f"line {line}: "
    return {
        "seq": seq, "stage": "extract", "key_text": ctx.key_text(printable),
        "row_text": json.dumps(printable, ensure_ascii=False), "sqlstate": sqlstate,
        "message": f"{where}{message} (file {path})",
    }


# --------------------------------------------------------------------------- plan
def source_keys_are_unique(ctx: BatchContext) -> bool:
    """True when a table source has a primary key or unique index on exactly the batch's keys.

    Then no interval can hold a key twice and the duplicate-key scan of the landing is skipped.
    """
    src = ctx.spec.source
    if src.kind != "table" or src.table is None:
        return False
    d = ctx.dialect
    params = {"schema": src.table.schema, "table": src.table.name}

    def read(conn: Connection) -> bool:
        with conn.cursor() as cur:
            cur.execute(d.column_numbers_sql(), params)
            names = {int(n): name for n, name in cur.fetchall()}
            cur.execute(d.unique_indexes_sql(), params)
            return any({names.get(int(n)) for n in str(indkey).split()} == set(ctx.spec.keys)
                       for (indkey,) in cur.fetchall())

    return bool(ctx.source_hook.run_in_transaction(read, purpose=f"{ctx.spec.name}: read the source's unique keys"))


def _plan(ctx: BatchContext, run_id: int, file_rejects: list[dict],
          keys_unique_at_source: bool = False) -> tuple[int, int, int, int]:
    """Reject duplicate keys, split the landing into chunks, mark the run LOADING: one transaction."""
    spec, d = ctx.spec, ctx.dialect
    landing = ctx.landing(run_id)

    def plan(conn: Connection) -> tuple[int, int, int, int]:
        with conn.cursor() as cur:
            state.fence(cur, ctx, run_id, RunStatus.EXTRACTING)
            cr = chunk_rows_in(cur, ctx)  # the spec's, or the adapted size of an adaptive batch
            for r in file_rejects:
                insert_reject(cur, ctx, run_id, stage=r["stage"], seq=r["seq"], sqlstate=r["sqlstate"],
                              message=r["message"], key_text=r["key_text"], row_text=r["row_text"])
            dups = 0 if keys_unique_at_source else _reject_duplicates(cur, ctx, run_id)
            rejected = len(file_rejects) + dups
            cur.execute(d.landing_stats_sql(landing))
            rows, lo, hi = cur.fetchone()
            chunks = []
            if rows:
                start = lo
                while start <= hi:
                    chunks.append((start, min(start + cr - 1, hi)))
                    start += cr
            bounds = _boundary_keys(cur, ctx, landing, chunks)
            if spec.mode == "delete_insert":
                # Chunk 0 deletes the interval's target rows that vanished at the source.
                state.insert_chunk(cur, ctx, run_id, PURGE_CHUNK, 0, 0, None, None, 0)
            for no, (a, b) in enumerate(chunks, start=1):
                state.insert_chunk(cur, ctx, run_id, no, a, b, bounds.get(a), bounds.get(b), b - a + 1)
            if chunks and ctx.landing_layout_known(run_id):
                _store_landing_fingerprints(cur, ctx, run_id, lo, hi, cr)
            state.planned(cur, ctx, run_id, rows_extracted=rows + rejected, rows_rejected=rejected, rows_loaded=0,
                          chunks_total=len(chunks) + (spec.mode == "delete_insert"))
            return rows, rejected, len(chunks), cr

    return ctx.tx(plan, purpose=f"plan the chunks of run {run_id}")


def _store_landing_fingerprints(cur: Cursor, ctx: BatchContext, run_id: int, lo: int, hi: int, size: int) -> None:
    """The check's landing side, once, while the landing is hot; every value is typed already.

    A read-only SELECT (the server may scan in parallel), then one UPDATE of the chunk rows per
    STORE_BATCH chunks.
    """
    d = ctx.dialect.for_landing(True)
    cur.execute(d.landing_fingerprints_sql(ctx.schema, ctx.landing(run_id), ctx.columns),
                {"run_id": run_id, "first": 1, "lo": lo, "hi": hi, "size": size})
    figures = cur.fetchall()
    for at in range(0, len(figures), STORE_BATCH):
        batch = figures[at:at + STORE_BATCH]
        params: dict = {"run_id": run_id}
        for i, (no, n, h) in enumerate(batch):
            params.update({f"c{i}": int(no), f"n{i}": int(n), f"h{i}": int(h)})
        cur.execute(d.store_landing_fingerprints_sql(ctx.schema, len(batch)), params)


def _reject_duplicates(cur: Cursor, ctx: BatchContext, run_id: int) -> int:
    """Keep the first row of each key; every later one goes to rejects (SQLSTATE 21000)."""
    d, landing = ctx.dialect, ctx.landing(run_id)
    cur.execute(d.duplicate_keys_sql(landing, ctx.key_columns))
    seqs = [r[0] for r in cur.fetchall()]
    if not seqs:
        return 0
    cur.execute(d.landing_rows_sql(landing, ctx.columns), {"seqs": seqs})
    names = [c.name for c in ctx.columns]
    src = ctx.spec.source
    kept = (f"the row with the greatest {', '.join(src.tie_break)} is kept" if src.tie_break else
            "the first row of the key in file order is kept" if src.kind == "files" else
            "which row of the key is kept is unspecified: set source.tie_break")
    for row in cur.fetchall():
        insert_reject(cur, ctx, run_id, stage="extract", seq=row[0], sqlstate="21000",
                      message=f"duplicate key inside the source interval ({kept})", values=dict(zip(names, row[1:])))
    cur.execute(d.delete_landing_rows_sql(landing), {"seqs": seqs})
    log.warning("batch=%s run=%s: %s rows rejected for duplicate keys (%s)", ctx.spec.name, run_id, len(seqs), kept)
    return len(seqs)


def _boundary_keys(cur: Cursor, ctx: BatchContext, landing: Any, chunks: list[tuple[int, int]]) -> dict[int, str]:
    """Key text at each chunk's first and last seq, for people reading the plan."""
    if not chunks:
        return {}
    seqs = sorted({s for pair in chunks for s in pair})
    cur.execute(ctx.dialect.boundary_keys_sql(landing, ctx.key_columns), {"seqs": seqs})
    return {row[0]: ctx.key_text(row[1:]) for row in cur.fetchall()}
