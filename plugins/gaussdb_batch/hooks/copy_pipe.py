"""Stream ``COPY ... TO STDOUT`` of one session into ``COPY ... FROM STDIN`` of another.

A thread copies the source out into an OS pipe while the calling thread copies the
pipe into the destination. The pipe (kernel buffer plus one 64 KiB chunk per side)
bounds memory whatever the table size. Either side failing aborts the other: a source
failure makes the destination's read raise (so its COPY is cancelled, never committed
short), a destination failure cancels the source statement and closes the pipe.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from gaussdb_batch.hooks.drivers import COPY_CHUNK

if TYPE_CHECKING:
    from gaussdb_batch.hooks.dbapi import Connection
    from gaussdb_batch.hooks.gaussdb import GaussDBHook

log = logging.getLogger(__name__)
JOIN_TIMEOUT = 30.0


class CopySourceFailed(Exception):
    """Raised inside the destination's COPY when the source side failed (aborts the COPY)."""


class _PipeReader(io.RawIOBase):
    """Read end of the pipe: counts bytes and turns a source failure into an error, not EOF."""

    def __init__(self, fd: int, failure: list[BaseException]) -> None:
        self._fd = fd
        self._failure = failure
        self.nbytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = os.read(self._fd, len(b))
        if not data and self._failure:
            raise CopySourceFailed("the COPY source failed; destination COPY aborted")
        b[: len(data)] = data
        self.nbytes += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        buf = bytearray(COPY_CHUNK if size is None or size < 0 else size)
        n = self.readinto(buf)
        return bytes(buf[:n])


def copy_between(
    src_hook: GaussDBHook,
    src_conn: Any,
    copy_out_sql: str,
    dst_hook: GaussDBHook,
    dst_conn: Any,
    copy_in_sql: str,
) -> int:
    """Pipe rows from ``src_conn`` into ``dst_conn`` with bounded memory; return bytes moved.

    Neither connection is committed or rolled back here: on error both transactions are
    failed and the caller rolls back (``run_in_transaction`` does). The source's error is
    raised when it failed first, so its SQLSTATE is what gets classified.
    """
    return _pipe(src_hook, src_conn, copy_out_sql, dst_hook, dst_conn, copy_in_sql)[0]


def copy_rows_between(src_hook: GaussDBHook, src_conn: Any, copy_out_sql: str, dst_hook: GaussDBHook, dst_conn: Any,
                      copy_in_sql: str) -> int:
    """``copy_between``, returning the rows the destination's COPY took in."""
    return _pipe(src_hook, src_conn, copy_out_sql, dst_hook, dst_conn, copy_in_sql)[1]


def _pipe(src_hook: GaussDBHook, src_conn: Any, copy_out_sql: str, dst_hook: GaussDBHook, dst_conn: Any,
          copy_in_sql: str) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []
    done = threading.Event()

    def produce() -> None:
        # The failure must be recorded BEFORE the write end closes: the reader takes EOF
        # without a recorded failure as the end of the data.
        sink = os.fdopen(write_fd, "wb", buffering=COPY_CHUNK)
        try:
            with src_conn.cursor() as cur:
                src_hook.driver.copy_out(cur, copy_out_sql, sink)
            sink.flush()
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)
        finally:
            try:
                sink.close()
            except OSError as exc:
                if not failure:
                    failure.append(exc)
            done.set()

    producer = threading.Thread(target=produce, name="gaussdb-batch-copy-out", daemon=True)
    reader = _PipeReader(read_fd, failure)
    producer.start()
    try:
        with dst_conn.cursor() as cur:
            rows = dst_hook.driver.copy_in(cur, copy_in_sql, reader)
    except BaseException:
        if not done.is_set():
            _cancel(src_hook, src_conn)
        os.close(read_fd)
        read_fd = -1
        producer.join(JOIN_TIMEOUT)
        if failure:
            raise failure[0] from None
        raise
    finally:
        if read_fd >= 0:
            os.close(read_fd)
    producer.join(JOIN_TIMEOUT)
    if producer.is_alive():
        raise RuntimeError("the COPY source thread did not finish after the destination completed")
    if failure:
        raise failure[0]
    return reader.nbytes, int(rows if rows is not None else -1)


def _cancel(hook: GaussDBHook, conn: Connection) -> None:
    try:
        hook.driver.cancel(conn)
    except Exception:
        log.debug("Cancelling the COPY source failed", exc_info=True)
