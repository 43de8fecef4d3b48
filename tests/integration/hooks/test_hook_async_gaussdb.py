"""What only the async_gaussdb driver has to prove: private loops that never leak, portals, cancel."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from contextlib import closing

import pytest

from gaussdb_batch.hooks.dbapi import Connection, Cursor
from gaussdb_batch.hooks.errors import TransientDBError


@pytest.fixture
def hook(make_hook):
    return make_hook(driver="async_gaussdb", retry_attempts=1)


def test_each_connection_owns_a_loop_that_ends_with_it(hook):
    threads = threading.active_count()
    conns = [hook.get_conn() for _ in range(5)]
    loops = {id(c._loop) for c in conns}
    assert len(loops) == 5  # private, never shared
    for conn in conns:
        conn.close()
        conn.close()  # idempotent
    assert all(c._loop.is_closed() for c in conns)
    abandoned = hook.get_conn()
    loop = abandoned._loop
    del abandoned
    gc.collect()
    assert loop.is_closed()  # a connection dropped without close() takes its loop along
    assert threading.active_count() == threads


def test_works_from_a_thread_that_already_runs_an_event_loop(hook):
    async def inside_a_loop() -> tuple:
        return hook.get_first("SELECT 40 + 2")  # e.g. called from a triggerer

    assert asyncio.run(inside_a_loop()) == (42,)
    results: list = []
    worker = threading.Thread(target=lambda: results.append(hook.get_records("SELECT 1 UNION ALL SELECT 2")))
    worker.start()
    worker.join()
    assert results == [[(1,), (2,)]]


def test_connections_and_cursors_satisfy_the_hook_protocols(hook):
    with closing(hook.get_conn()) as conn, conn.cursor() as cur:
        assert isinstance(conn, Connection) and isinstance(cur, Cursor)


def test_server_side_cursor_streams_in_batches(hook):
    with closing(hook.get_conn()) as conn:
        cur = conn.cursor(name="big_read")
        cur.itersize = 1000
        cur.execute("SELECT g, repeat('x', 100) FROM generate_series(1, %s) g", (10_000,))
        assert [d[0] for d in cur.description] == ["g", "repeat"]
        first = cur.fetchmany(10)
        assert [r[0] for r in first] == list(range(1, 11)) and cur.rowcount == 10
        total = 10 + sum(1 for _ in cur)
        assert total == 10_000 and cur.rowcount == 10_000
        cur.close()
        with conn.cursor() as plain:
            plain.execute("SELECT count(*) FROM pg_cursors WHERE name = 'big_read'")
            assert plain.fetchone()[0] == 0  # closed on the server too
        conn.rollback()


def test_cancel_from_another_thread_stops_the_statement(hook):
    conn = hook.get_conn()
    try:
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(hook.driver.Error) as caught, conn.cursor() as cur:
            cur.execute("SELECT pg_sleep(20)")
        assert time.monotonic() - started < 5
        assert hook.driver.sqlstate(caught.value) == "57014"
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()


def test_statement_timeout_from_the_startup_packet_applies(make_hook):
    hook = make_hook(driver="async_gaussdb", statement_timeout="300ms", retry_attempts=1)
    with pytest.raises(TransientDBError) as caught:
        hook.run_in_transaction(lambda conn: conn.cursor().execute("SELECT pg_sleep(3)"), purpose="slow")
    assert caught.value.sqlstate == "57014"
