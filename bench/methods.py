"""The measured ways of moving lineitem from a source into the target.

Every function here runs in a child process of its own (spawned, so its peak RSS is its
own) and returns a dict with at least ``rows`` and ``seconds`` (the timed part) and
``rss`` (the process's peak resident set in bytes). Resetting the target is the
parent's job and is never timed.
"""

from __future__ import annotations

import collections
import os
import re
import threading
import time
from typing import Any

from common import (
    COLS_SQL, CONTROL, COLUMNS, DST_DB, END, INTERVAL_SQL, KEYS, KEYS_SQL, NAMES, SAME_DB_SOURCE, SOURCE, SRC_DB,
    START, TARGET, dsn, peak_rss_bytes, upsert_tail,
)

UPSERT_ROW = f"INSERT INTO {TARGET} ({COLS_SQL}) VALUES ({', '.join(['%s'] * len(NAMES))}) {upsert_tail()}"
SAMPLE_SQL = f"SELECT {COLS_SQL} FROM {SOURCE} ORDER BY {KEYS_SQL} LIMIT %d"
LANDING_DDL = "CREATE UNLOGGED TABLE bench_land ({})".format(", ".join(f"{c} {t}" for c, t in COLUMNS))


def _done(rows: int, t0: float, **extra: Any) -> dict[str, Any]:
    return {"rows": rows, "seconds": time.monotonic() - t0, "rss": peak_rss_bytes(), **extra}


# --------------------------------------------------------------------------- row-at-a-time peers
def _sample(n: int) -> list[tuple]:
    import psycopg2

    src = psycopg2.connect(dsn(SRC_DB))
    with src.cursor() as cur:
        cur.execute(SAMPLE_SQL % int(n))
        rows = cur.fetchall()
    src.close()
    return rows


def single_row(sample: int) -> dict[str, Any]:
    """One autocommit INSERT ... ON CONFLICT per row (read included)."""
    import psycopg2

    t0 = time.monotonic()
    rows = _sample(sample)
    dst = psycopg2.connect(dsn(DST_DB))
    dst.autocommit = True
    with dst.cursor() as cur:
        for row in rows:
            cur.execute(UPSERT_ROW, row)
    dst.close()
    return _done(len(rows), t0)


def executemany_1000(sample: int) -> dict[str, Any]:
    """psycopg2 executemany of the upsert, a commit per 1000 rows (read included)."""
    import psycopg2

    t0 = time.monotonic()
    rows = _sample(sample)
    dst = psycopg2.connect(dsn(DST_DB))
    with dst.cursor() as cur:
        for i in range(0, len(rows), 1000):
            cur.executemany(UPSERT_ROW, rows[i:i + 1000])
            dst.commit()
    dst.close()
    return _done(len(rows), t0)


def execute_values(sample: int | None) -> dict[str, Any]:
    """psycopg2.extras.execute_values upsert, 1000 rows a statement, streamed from a server-side cursor."""
    import psycopg2
    from psycopg2.extras import execute_values as ev

    t0 = time.monotonic()
    src = psycopg2.connect(dsn(SRC_DB))
    dst = psycopg2.connect(dsn(DST_DB))
    sql = f"INSERT INTO {TARGET} ({COLS_SQL}) VALUES %s {upsert_tail()}"
    n = 0
    with src.cursor(name="bench_read") as rd, dst.cursor() as cur:
        rd.itersize = 10_000
        query = f"SELECT {COLS_SQL} FROM {SOURCE} WHERE {INTERVAL_SQL} ORDER BY {KEYS_SQL}"
        rd.execute(query + (f" LIMIT {int(sample)}" if sample else ""))
        while True:
            rows = rd.fetchmany(10_000)
            if not rows:
                break
            ev(cur, sql, rows, page_size=1000)
            dst.commit()
            n += len(rows)
    src.close()
    dst.close()
    return _done(n, t0)


def generic_transfer(sample: int | None) -> dict[str, Any]:
    """Airflow's GenericTransfer, executed directly, postgres connections, upsert via insert_rows(replace=True)."""
    from airflow.providers.common.sql.operators.generic_transfer import GenericTransfer

    sql = f"SELECT {COLS_SQL} FROM {SOURCE} WHERE {INTERVAL_SQL} ORDER BY {KEYS_SQL}"
    if sample:
        sql += f" LIMIT {int(sample)}"
    op = GenericTransfer(
        task_id="bench_generic_transfer", source_conn_id="pg_src", destination_conn_id="pg_dst",
        destination_table=TARGET, sql=sql,
        insert_args={"replace": True, "replace_index": KEYS, "target_fields": NAMES, "commit_every": 1000},
    )
    t0 = time.monotonic()
    op.execute(context={})
    out = _done(0, t0)
    import psycopg2

    with psycopg2.connect(dsn(DST_DB)) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {TARGET}")
        out["rows"] = cur.fetchone()[0]
    return out


# --------------------------------------------------------------------------- set-based limits
def _pipe(out_sql: str, in_sql: str, dst: Any) -> int:
    """COPY out of the source into COPY in of ``dst`` through an OS pipe, 64 KiB at a time; bytes moved.

    psycopg2's copy_expert on both sides with a thread for the source: the same shape as the
    engine's copy_between, so the limit is not slowed by a per-row Python loop.
    """
    import os
    import threading

    import psycopg2

    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []
    src = psycopg2.connect(dsn(SRC_DB))

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb", buffering=1 << 16) as sink, src.cursor() as cur:
                cur.copy_expert(out_sql, sink, size=1 << 16)
        except BaseException as exc:
            failure.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    with os.fdopen(read_fd, "rb", buffering=1 << 16) as pipe, dst.cursor() as cur:
        cur.copy_expert(in_sql, pipe, size=1 << 16)
        moved = pipe.tell() if pipe.seekable() else 0
    producer.join()
    src.close()
    if failure:
        raise failure[0]
    return moved


def _copy_into_target(fmt: str) -> dict[str, Any]:
    """Raw COPY TO STDOUT -> COPY FROM STDIN straight into the (empty) typed target, in ``fmt``."""
    import psycopg2

    dst = psycopg2.connect(dsn(DST_DB))
    t0 = time.monotonic()
    _pipe(f"COPY (SELECT {COLS_SQL} FROM {SOURCE} WHERE {INTERVAL_SQL}) TO STDOUT WITH (FORMAT {fmt})",
          f"COPY {TARGET} ({COLS_SQL}) FROM STDIN WITH (FORMAT {fmt})", dst)
    dst.commit()
    out = _done(0, t0)
    with dst.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {TARGET}")
        out["rows"] = cur.fetchone()[0]
    dst.close()
    return out


def copy_pipe() -> dict[str, Any]:
    """COPY pipe in text format (COPY's default)."""
    return _copy_into_target("text")


def copy_pipe_binary() -> dict[str, Any]:
    """copy_pipe in binary format on both sides (what the engine's extract uses between PostgreSQL servers)."""
    return _copy_into_target("binary")


def _two_passes(first_pass: Any) -> dict[str, Any]:
    """The landing design's floor: ``first_pass(conn)`` fills an UNLOGGED typed table, one merge empties it."""
    import psycopg2

    dst = psycopg2.connect(dsn(DST_DB))
    with dst.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_land")
        cur.execute(LANDING_DDL)
    dst.commit()
    t0 = time.monotonic()
    first_pass(dst)
    dst.commit()
    t1 = time.monotonic()
    with dst.cursor() as cur:
        cur.execute(f"INSERT INTO {TARGET} ({COLS_SQL}) SELECT {COLS_SQL} FROM bench_land {upsert_tail()}")
        n = cur.rowcount
    dst.commit()
    t2 = time.monotonic()
    with dst.cursor() as cur:
        cur.execute("DROP TABLE bench_land")
    dst.commit()
    dst.close()
    return _done(n, t0, copy_seconds=t1 - t0, merge_seconds=t2 - t1) | {"seconds": t2 - t0}


def landing_limit() -> dict[str, Any]:
    """Across databases: COPY pipe into the landing, then the merge."""
    return _two_passes(lambda dst: _pipe(f"COPY (SELECT {COLS_SQL} FROM {SOURCE} WHERE {INTERVAL_SQL}) TO STDOUT",
                                         f"COPY bench_land ({COLS_SQL}) FROM STDIN", dst))


def same_db_limit() -> dict[str, Any]:
    """Within one database: INSERT ... SELECT into the landing, then the merge."""
    def first(dst: Any) -> None:
        with dst.cursor() as cur:
            cur.execute(f"INSERT INTO bench_land SELECT {COLS_SQL} FROM {SAME_DB_SOURCE} WHERE {INTERVAL_SQL}")

    return _two_passes(first)


def insert_select() -> dict[str, Any]:
    """One INSERT ... SELECT ... ON CONFLICT inside the target database."""
    import psycopg

    t0 = time.monotonic()
    with psycopg.connect(dsn(DST_DB)) as c:
        cur = c.execute(f"INSERT INTO {TARGET} ({COLS_SQL}) SELECT {COLS_SQL} FROM {SAME_DB_SOURCE} "
                        f"WHERE {INTERVAL_SQL} {upsert_tail()}")
        n = cur.rowcount
    return _done(n, t0)


# --------------------------------------------------------------------------- the engine
class StatementClock:
    """Where a process's database time goes, from the hook's statement observers.

    Each statement is charged the wall time until the next statement of the same thread
    starts (or the step ends): its server time, its commit when it is the last of a
    transaction, and the Python in between. Cheap enough to stay on in every run.
    """

    KINDS = [
        ("claim chunk (FOR UPDATE SKIP LOCKED)", re.compile(r"FOR UPDATE SKIP LOCKED", re.I)),
        ("undo capture INSERT ... SELECT", re.compile(r"^INSERT INTO \S*undo_", re.I)),
        ("upsert from landing", re.compile(r"^(MERGE INTO|INSERT INTO .* ON (CONFLICT|DUPLICATE))", re.I | re.S)),
        ("rows of the range (after an upsert)", re.compile(r"^SELECT count\(\*\) FROM \S*land_\d+\"? s WHERE", re.I)),
        ("plain INSERT from landing (no key existed)", re.compile(r"^INSERT INTO .* FROM \S*land_\d+\"? s WHERE", re.I | re.S)),
        ("plan: store landing fingerprints", re.compile(r"^UPDATE \S+\.\"?chunks\"? c SET land_rows", re.I)),
        ("mark chunk DONE (+ commit)", re.compile(r"^UPDATE \S+\.\"?chunks\"? SET status = 'DONE'", re.I)),
        ("progress read (+ commit)", re.compile(r"^SELECT count\(\*\), sum\(CASE WHEN status = 'DONE'", re.I)),
        ("savepoint / release", re.compile(r"^(SAVEPOINT|RELEASE|ROLLBACK TO)", re.I)),
        ("COPY out of the source", re.compile(r"^COPY \(.*TO STDOUT", re.I | re.S)),
        ("COPY into the landing", re.compile(r"^COPY .* FROM STDIN", re.I | re.S)),
        ("INSERT ... SELECT into the landing", re.compile(r"^INSERT INTO \S*land_\d+", re.I)),
        ("landing index", re.compile(r"^CREATE UNIQUE INDEX", re.I)),
        ("ANALYZE landing", re.compile(r"^ANALYZE", re.I)),
        ("duplicate-key scan", re.compile(r"GROUP BY .* HAVING count\(\*\) > 1", re.I | re.S)),
        ("plan: insert chunk rows", re.compile(r"^INSERT INTO \S+\.\"?chunks\"?", re.I)),
        ("fingerprint: target", re.compile(r"^SELECT .*count\(\*\), coalesce\(sum\(q\.h\).* JOIN ", re.I | re.S)),
        ("fingerprint: landing", re.compile(r"^SELECT .*count\(\*\), coalesce\(sum\(q\.h\)", re.I | re.S)),
        ("store reconciliation rows", re.compile(r"^INSERT INTO \S+\.\"?reconciliation\"?", re.I)),
    ]

    def __init__(self) -> None:
        self.totals: dict[str, float] = collections.defaultdict(float)
        self.counts: dict[str, int] = collections.defaultdict(int)
        self._open: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def kind(self, sql: str) -> str:
        text = sql.lstrip()
        for name, pattern in self.KINDS:
            if pattern.search(text):
                return name
        return "other: " + " ".join(text.split()[:3])[:40]

    def __call__(self, sql: str, _dialect: str) -> None:
        now = time.monotonic()
        kind = self.kind(sql)
        tid = threading.get_ident()
        with self._lock:
            self._close(tid, now)
            self._open[tid] = (kind, now)

    def _close(self, tid: int, now: float) -> None:
        prev = self._open.pop(tid, None)
        if prev is not None:
            self.totals[prev[0]] += now - prev[1]
            self.counts[prev[0]] += 1

    def result(self) -> dict[str, list[float]]:
        """Totals per kind; a statement still open in another thread (the COPY-out side of a
        pipe, which overlaps the COPY-in side) is counted, not timed."""
        now = time.monotonic()
        with self._lock:
            for tid in list(self._open):
                if tid == threading.get_ident():
                    self._close(tid, now)
                else:
                    kind = self._open.pop(tid)[0]
                    self.totals[kind] += 0.0
                    self.counts[kind] += 1
        return {k: [round(v, 3), self.counts[k]] for k, v in sorted(self.totals.items(), key=lambda kv: -kv[1])}


def _engine(same_db: bool, chunk_rows: int, lanes: int):
    """A BatchContext and a statement clock (registered) for this process."""
    from gaussdb_batch.engine.context import BatchContext
    from gaussdb_batch.engine.spec_parser import parse_spec
    from gaussdb_batch.hooks import observe
    from gaussdb_batch.hooks.gaussdb import GaussDBHook

    source = {"conn_id": "gbb_dst", "table": SAME_DB_SOURCE} if same_db else {"conn_id": "gbb_src", "table": SOURCE}
    spec = parse_spec({
        "name": "bench_lineitem_same_db" if same_db else "bench_lineitem",
        "schedule": "0 0 * * *",
        "source": {**source, "interval_column": "l_shipdate"},
        "target": {"conn_id": "gbb_dst", "table": TARGET},
        "keys": KEYS, "chunk_rows": chunk_rows, "lanes": lanes, "control_schema": CONTROL,
        "load_path": os.environ.get("BENCH_LOAD_PATH", "auto"),
    })
    ctx = BatchContext(spec, hook_factory=lambda cid: GaussDBHook(gaussdb_conn_id=cid))
    clock = StatementClock()
    observe.add_statement_observer(clock)
    return ctx, clock


def engine_extract(same_db: bool, chunk_rows: int, lanes: int) -> dict[str, Any]:
    from gaussdb_batch.engine.extract import extract

    ctx, clock = _engine(same_db, chunk_rows, lanes)
    ctx.columns  # read the catalog before the clock starts counting for the step
    t0 = time.monotonic()
    ex = extract(ctx, START, END)
    out = _done(ex.rows, t0, run_id=ex.run_id, chunks=ex.chunks, rejected=ex.rejected, statements=clock.result())
    ctx.close()
    return out


def engine_lane(same_db: bool, chunk_rows: int, lanes: int, run_id: int, lane: int) -> dict[str, Any]:
    from gaussdb_batch.engine.load import run_lane

    ctx, clock = _engine(same_db, chunk_rows, lanes)
    ctx.columns
    t0, wall0 = time.monotonic(), time.time()
    res = run_lane(ctx, run_id, lane)
    out = _done(res.rows_written, t0, chunks=res.chunks, rejected=res.rows_rejected, statements=clock.result(),
                started=wall0, ended=time.time())
    ctx.close()
    return out


def engine_check(same_db: bool, chunk_rows: int, lanes: int, run_id: int) -> dict[str, Any]:
    from gaussdb_batch.engine.check import check_run
    from gaussdb_batch.engine.compensate import finalize_run

    ctx, clock = _engine(same_db, chunk_rows, lanes)
    ctx.columns
    t0 = time.monotonic()
    res = check_run(ctx, run_id)
    out = _done(res.rows, t0, chunks=res.chunks, mismatched=len(res.mismatched_first_pass), statements=clock.result())
    t1 = time.monotonic()
    finalize_run(ctx, run_id)
    out["finalize_seconds"] = time.monotonic() - t1
    ctx.close()
    return out


# --------------------------------------------------------------------------- peers a user would pick instead
PEER_SCHEMAS = {"dlt": "dlt_bench", "sling": "sling_bench"}


def _url(db: str) -> str:
    from urllib.parse import quote

    from common import pg_env

    e = pg_env()
    return f"postgresql://{quote(e['USER'])}:{quote(e['PASSWORD'])}@{e['HOST']}:{e['PORT']}/{db}"


def _peer_reset(schema: str, *, create_target: bool) -> None:
    """Drop a peer's target schema (the 'empty' state); optionally create the typed PK target in it."""
    import psycopg2

    c = psycopg2.connect(dsn(DST_DB))
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.execute(f"CREATE SCHEMA {schema}")
        if create_target:
            from common import table_ddl

            cur.execute(table_ddl(f"{schema}.lineitem"))
    c.close()


def _peer_rows(schema: str) -> int:
    import psycopg2

    with psycopg2.connect(dsn(DST_DB)) as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {schema}.lineitem")
        return int(cur.fetchone()[0])


def _dlt_run() -> None:
    import dlt
    from dlt.sources.sql_database import sql_table

    from common import WORK

    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt", pipelines_dir=str(WORK / "dlt"), dataset_name=PEER_SCHEMAS["dlt"],
        destination=dlt.destinations.postgres(credentials=_url(DST_DB), create_indexes=True),
    )
    table = sql_table(credentials=_url(SRC_DB), schema="tpch", table="lineitem", backend="pyarrow",
                      chunk_size=100_000, reflection_level="full_with_precision")
    table.apply_hints(write_disposition="merge", primary_key=KEYS)
    pipeline.run(table)


def dlt_merge(prefilled: bool) -> dict[str, Any]:
    """dlt: sql_table (pyarrow backend) -> postgres destination, write_disposition merge on the key.

    Empty: its dataset schema and pipeline state are dropped first. Pre-filled: an untimed
    first run loads every row, then the timed run merges them all again (every row an update).
    """
    import shutil

    from common import WORK

    schema = PEER_SCHEMAS["dlt"]
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    if not prefilled:
        shutil.rmtree(WORK / "dlt", ignore_errors=True)
        _peer_reset(schema, create_target=False)
    elif _table_missing(schema):
        _dlt_run()  # the pre-filled state: every row already there (untimed)
    t0 = time.monotonic()
    _dlt_run()
    out = _done(0, t0)
    out["rows"] = _peer_rows(schema)
    return out


def _table_missing(schema: str) -> bool:
    import psycopg2

    with psycopg2.connect(dsn(DST_DB)) as c, c.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'lineitem'", (schema,))
        return cur.fetchone() is None


def _sling_run() -> None:
    import subprocess

    from sling_linux_amd64 import SLING_BIN

    env = {**os.environ, "SLING_DISABLE_TELEMETRY": "true", "SLING_LOGGING": "NONE",
           "BENCH_SRC": _url(SRC_DB) + "?sslmode=disable", "BENCH_DST": _url(DST_DB) + "?sslmode=disable"}
    subprocess.run([SLING_BIN, "run", "--src-conn", "BENCH_SRC", "--src-stream", SOURCE, "--tgt-conn", "BENCH_DST",
                    "--tgt-object", f"{PEER_SCHEMAS['sling']}.lineitem", "--mode", "incremental",
                    "--primary-key", KEYS_SQL.replace(" ", "")],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=3600)


def sling_upsert(prefilled: bool) -> dict[str, Any]:
    """sling (the binary of the sling-linux-amd64 wheel): incremental mode on the primary key (an upsert).

    The target table is created first with the same types and primary key as the engine's.
    Pre-filled: an untimed first run loads every row, then the timed run upserts them all again.
    """
    schema = PEER_SCHEMAS["sling"]
    if not prefilled:
        _peer_reset(schema, create_target=True)
    elif _peer_rows(schema) == 0:
        _sling_run()
    t0 = time.monotonic()
    _sling_run()
    out = _done(0, t0)
    out["rows"] = _peer_rows(schema)
    # The work happens in the sling binary, a child process: its peak RSS is the figure.
    import resource

    out["rss"] = max(out["rss"], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
    return out
