"""COPY through each driver and across connections: round trips, memory bound, failures."""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import closing

import pytest

from gaussdb_batch.hooks.copy_pipe import copy_between
from gaussdb_batch.hooks.errors import DataError, PermanentDBError

ROWS = 200_000
PAYLOAD_SQL = "repeat(md5(g::text), 6)"  # 192 characters: about 40 MB of COPY text in all
MEMORY_BOUND = 16 * 1024 * 1024


def _rows():
    for i in range(1, ROWS + 1):
        yield f"{i}\t{hashlib.md5(str(i).encode()).hexdigest() * 6}\n".encode()


def _chunks(size: int = 256 * 1024):
    buf = bytearray()
    for row in _rows():
        buf += row
        if len(buf) >= size:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakRss:
    """Sample this process's resident memory while a block runs."""

    def __enter__(self):
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.growth = self.peak - self.base


class HashingSink:
    def __init__(self):
        self.md5 = hashlib.md5()
        self.largest_write = 0

    def write(self, data) -> int:
        self.md5.update(data)
        self.largest_write = max(self.largest_write, len(data))
        return len(data)


def _fingerprint(conn, table: str) -> tuple[int, str]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*), md5(string_agg(id || ':' || payload, ',' ORDER BY id)) FROM {table}")
        count, digest = cur.fetchone()
    conn.rollback()
    return count, digest


def _create(conn, table: str, *, fill: bool = False) -> None:
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, payload text NOT NULL)")
        if fill:
            cur.execute(f"INSERT INTO {table} SELECT g, {PAYLOAD_SQL} FROM generate_series(1, {ROWS}) g")
    conn.commit()


def test_copy_in_and_out_round_trip_200k_rows_in_bounded_memory(make_hook, driver, scratch_schema):
    hook = make_hook(driver=driver)
    table = f'"{scratch_schema}".landing'
    expected = hashlib.md5()
    for row in _rows():
        expected.update(row)
    with closing(hook.get_conn()) as conn:
        _create(conn, table)
        with PeakRss() as mem_in, conn.cursor() as cur:
            rows_in = hook.driver.copy_in(cur, f"COPY {table} (id, payload) FROM STDIN", _chunks())
        conn.commit()
        sink = HashingSink()
        with PeakRss() as mem_out, conn.cursor() as cur:
            rows_out = hook.driver.copy_out(cur, f"COPY (SELECT id, payload FROM {table} ORDER BY id) TO STDOUT", sink)
        conn.rollback()
    assert (rows_in, rows_out) == (ROWS, ROWS)
    assert sink.md5.hexdigest() == expected.hexdigest()
    assert mem_in.growth < MEMORY_BOUND, mem_in.growth
    assert mem_out.growth < MEMORY_BOUND, mem_out.growth
    assert sink.largest_write <= 64 * 1024


def test_copy_between_streams_200k_rows_across_databases(make_hook, driver, source_schema, scratch_schema):
    src_hook, dst_hook = make_hook("gbsource", driver=driver), make_hook(driver="psycopg2")
    src_table, dst_table = f'"{source_schema}".orders', f'"{scratch_schema}".orders'
    with closing(src_hook.get_conn()) as src, closing(dst_hook.get_conn()) as dst:
        _create(src, src_table, fill=True)
        _create(dst, dst_table)
        threads_before = threading.active_count()
        with PeakRss() as mem:
            moved = copy_between(
                src_hook, src, f"COPY (SELECT id, payload FROM {src_table}) TO STDOUT WITH (FORMAT csv)",
                dst_hook, dst, f"COPY {dst_table} (id, payload) FROM STDIN WITH (FORMAT csv)",
            )  # fmt: skip
        dst.commit()
        src.rollback()
        assert moved > ROWS * 190
        assert mem.growth < MEMORY_BOUND, mem.growth
        assert threading.active_count() == threads_before
        assert _fingerprint(dst, dst_table) == _fingerprint(src, src_table)


@pytest.mark.parametrize("side", ["source", "destination"])
def test_copy_between_failure_aborts_both_sides(make_hook, driver, scratch_schema, side):
    """A failure after 150k rows streamed leaves nothing in the target and no thread behind."""
    hook = make_hook(driver=driver)
    src_table, dst_table = f'"{scratch_schema}".src', f'"{scratch_schema}".dst'
    fail_at = 150_000
    bad_row = f"CASE WHEN id = {fail_at} THEN NULL ELSE payload END"
    out_sql = {
        "source": f"COPY (SELECT id, payload || (1 / (id - {fail_at}))::text FROM {src_table} ORDER BY id) TO STDOUT",
        "destination": f"COPY (SELECT id, {bad_row} FROM {src_table} ORDER BY id) TO STDOUT",
    }[side]
    with closing(hook.get_conn()) as src, closing(hook.get_conn()) as dst:
        _create(src, src_table, fill=True)
        _create(dst, dst_table)
        threads_before = threading.active_count()
        started = time.monotonic()
        with pytest.raises(Exception) as caught:
            copy_between(hook, src, out_sql, hook, dst, f"COPY {dst_table} FROM STDIN")
        assert time.monotonic() - started < 10
        assert threading.active_count() == threads_before
        assert hook.driver.sqlstate(caught.value) == {"source": "22012", "destination": "23502"}[side]
        src.rollback()
        dst.rollback()
        assert _fingerprint(dst, dst_table)[0] == 0
        assert _fingerprint(src, src_table)[0] == ROWS  # both sessions usable again


def test_copy_between_inside_run_in_transaction_classifies_the_source_error(make_hook, scratch_schema):
    hook = make_hook()
    dst_table = f'"{scratch_schema}".dst'
    hook.run(f"CREATE TABLE {dst_table} (id int)")

    def extract(conn) -> int:
        with closing(hook.get_conn()) as src:
            return copy_between(hook, src, "COPY (SELECT 1/0) TO STDOUT", hook, conn, f"COPY {dst_table} FROM STDIN")

    with pytest.raises(DataError) as caught:
        hook.run_in_transaction(extract, purpose="extract run 5")
    assert caught.value.sqlstate == "22012"
    assert isinstance(caught.value, PermanentDBError)
