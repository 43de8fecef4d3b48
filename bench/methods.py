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
CASTS = ", ".join(f"CAST({c} AS {t})" for c, t in COLUMNS)
TEXT_COLS = ", ".join(f"CAST({c} AS text) AS {c}" for c in NAMES)
LANDING_DDL = "CREATE UNLOGGED TABLE bench_land ({})".format(", ".join(f"{c} text" for c in NAMES))


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


def copy_pipe() -> dict[str, Any]:
    """Raw COPY TO STDOUT -> COPY FROM STDIN straight into the (empty) typed target."""
    import psycopg2

    dst = psycopg2.connect(dsn(DST_DB))
    t0 = time.monotonic()
    _pipe(f"COPY (SELECT {COLS_SQL} FROM {SOURCE} WHERE {INTERVAL_SQL}) TO STDOUT",
          f"COPY {TARGET} ({COLS_SQL}) FROM STDIN", dst)
    dst.commit()
    out = _done(0, t0)
    with dst.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {TARGET}")
        out["rows"] = cur.fetchone()[0]
    dst.close()
    return out


def _two_passes(first_pass: Any) -> dict[str, Any]:
    """The landing design's floor: ``first_pass(conn)`` fills an UNLOGGED text table, one merge empties it."""
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
        cur.execute(f"INSERT INTO {TARGET} ({COLS_SQL}) SELECT {CASTS} FROM bench_land {upsert_tail()}")
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
    return _two_passes(lambda dst: _pipe(f"COPY (SELECT {TEXT_COLS} FROM {SOURCE} WHERE {INTERVAL_SQL}) TO STDOUT",
                                         f"COPY bench_land ({COLS_SQL}) FROM STDIN", dst))


def same_db_limit() -> dict[str, Any]:
    """Within one database: INSERT ... SELECT into the landing, then the merge."""
    def first(dst: Any) -> None:
        with dst.cursor() as cur:
            cur.execute(f"INSERT INTO bench_land SELECT {TEXT_COLS} FROM {SAME_DB_SOURCE} WHERE {INTERVAL_SQL}")

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
        ("fingerprint: landing", re.compile(r"^SELECT c\.chunk_no, count\(\*\).*FROM \S+\.\"?chunks\"? c JOIN \S+ s ON[^J]*WHERE", re.I | re.S)),
        ("fingerprint: target", re.compile(r"^SELECT c\.chunk_no, count\(\*\).*JOIN .* JOIN", re.I | re.S)),
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


def _patch_undo_probe() -> None:
    """What-if, in this process only: the undo capture as BENCHMARKS.md proposes (see explain_chunk.py)."""
    from gaussdb_batch.dialects.base import Dialect
    from explain_chunk import proposed_capture

    original = Dialect.capture_undo_sql
    if getattr(original, "bench_patched", False):
        return

    def capture_undo_sql(self, *args, **kwargs):
        return proposed_capture(original(self, *args, **kwargs))

    capture_undo_sql.bench_patched = True
    Dialect.capture_undo_sql = capture_undo_sql


def _engine(same_db: bool, chunk_rows: int, lanes: int):
    """A BatchContext and a statement clock (registered) for this process."""
    from gaussdb_batch.engine.context import BatchContext
    from gaussdb_batch.engine.spec import parse_spec
    from gaussdb_batch.hooks import observe
    from gaussdb_batch.hooks.gaussdb import GaussDBHook

    source = {"conn_id": "gbb_dst", "table": SAME_DB_SOURCE} if same_db else {"conn_id": "gbb_src", "table": SOURCE}
    spec = parse_spec({
        "name": "bench_lineitem_same_db" if same_db else "bench_lineitem",
        "schedule": "0 0 * * *",
        "source": {**source, "interval_column": "l_shipdate"},
        "target": {"conn_id": "gbb_dst", "table": TARGET},
        "keys": KEYS, "chunk_rows": chunk_rows, "lanes": lanes, "control_schema": CONTROL,
    })
    ctx = BatchContext(spec, hook_factory=lambda cid: GaussDBHook(gaussdb_conn_id=cid))
    if os.environ.get("BENCH_WHAT_IF") == "undo_probe_offset0":
        _patch_undo_probe()
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
    from gaussdb_batch.checks.reconcile import check_run
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
