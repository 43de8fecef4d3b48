"""One interface over psycopg2, psycopg 3 and PyPI ``gaussdb`` (a psycopg 3 rename).

The hook and the engine never touch driver specifics: connect, COPY in/out, the
SQLSTATE attribute (``pgcode`` vs ``sqlstate``) and liveness go through a Driver.
psycopg 3 runs with client-side binding (``ClientCursor``) so that ``%s`` parameters
behave as with psycopg2 (same SQL text on the wire, several statements per execute).
Cursors made here report every statement to gaussdb_batch.hooks.observe.
"""

from __future__ import annotations

import io
import importlib
from collections.abc import Iterable
from typing import IO, Any, Union

from gaussdb_batch.hooks import observe
from gaussdb_batch.hooks.libpq_guard import ensure_gaussdb_driver_usable

COPY_CHUNK = 64 * 1024

CopySource = Union[IO[bytes], Iterable[bytes], bytes]

UNKNOWN_DIALECT = "unknown"


def _chunks_or_file(source: CopySource) -> Any:
    """A whole ``bytes`` payload is one chunk (iterating it would yield ints)."""
    return [bytes(source)] if isinstance(source, (bytes, bytearray, memoryview)) else source


def _dialect_of(conn: Any) -> str:
    return getattr(conn, "gb_dialect", UNKNOWN_DIALECT)


def _seen(query: Any, connection: Any, composable: type, render_with: Any) -> None:
    """Tell statement observers about a statement, as text, whatever the driver was handed."""
    if observe.has_observers():
        if isinstance(query, composable):
            query = query.as_string(render_with)
        elif isinstance(query, bytes):
            query = query.decode("utf-8", "replace")
        observe.notify(query, _dialect_of(connection))


class IterableReader(io.RawIOBase):
    """A binary file over an iterable of bytes chunks, buffering at most one chunk."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = bytes(next(self._it))
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class Driver:
    """What the hook needs from a DB-API driver; subclasses adapt one driver each."""

    name: str
    module: Any

    @property
    def Error(self) -> type[Exception]:  # noqa: N802 - mirrors the DB-API name
        return self.module.Error

    def connect(self, params: dict[str, Any]) -> Any:
        """Open a connection with libpq keyword ``params``; autocommit is off."""
        raise NotImplementedError

    def copy_in(self, cursor: Any, sql: str, source: CopySource) -> int:
        """Run ``COPY ... FROM STDIN`` from a binary file, an iterable of bytes chunks or bytes; return rows."""
        raise NotImplementedError

    def copy_out(self, cursor: Any, sql: str, sink: IO[bytes]) -> int:
        """Run ``COPY ... TO STDOUT`` into a binary file; return rows."""
        raise NotImplementedError

    def sqlstate(self, exc: BaseException) -> str | None:
        """The SQLSTATE carried by a driver exception, or None."""
        raise NotImplementedError

    def connection_lost(self, exc: BaseException) -> bool:
        """True for a dead session reported without a SQLSTATE.

        An InterfaceError counts only when it is about the connection: "cursor already
        closed" is a bug in the caller, and retrying it would only hide that.
        """
        if self.sqlstate(exc) is not None:
            return False
        if isinstance(exc, self.module.OperationalError):
            return True
        return isinstance(exc, self.module.InterfaceError) and "connection" in str(exc).lower()

    def is_alive(self, conn: Any) -> bool:
        """False once the session is closed or known broken."""
        raise NotImplementedError

    def cancel(self, conn: Any) -> None:
        """Ask the server to cancel the running statement (used to abort the other side of a pipe)."""
        conn.cancel()

    def diag(self, exc: BaseException) -> dict[str, str | None]:
        """Identifier-only diagnostics (never values): schema, table, column, constraint, message."""
        diag = getattr(exc, "diag", None)
        fields = ("schema_name", "table_name", "column_name", "constraint_name", "message_primary")
        return {f: getattr(diag, f, None) for f in fields}


class Psycopg2Driver(Driver):
    """psycopg2 (also Huawei's patched build, which installs under the same name)."""

    name = "psycopg2"

    def __init__(self) -> None:
        import psycopg2
        import psycopg2.extensions as ext
        import psycopg2.sql

        self.module = psycopg2

        class ObservedCursor(ext.cursor):
            def _seen(self, query: Any) -> None:
                _seen(query, self.connection, psycopg2.sql.Composable, self)

            def execute(self, query: Any, vars: Any = None) -> Any:  # noqa: A002 - psycopg2's name
                self._seen(query)
                return super().execute(query, vars)

            def executemany(self, query: Any, vars_list: Any) -> Any:
                self._seen(query)
                return super().executemany(query, vars_list)

            def copy_expert(self, sql: Any, file: Any, size: int = 8192) -> Any:
                self._seen(sql)
                return super().copy_expert(sql, file, size)

        class ObservedConnection(ext.connection):
            gb_dialect = UNKNOWN_DIALECT

        self._cursor = ObservedCursor
        self._connection = ObservedConnection

    def connect(self, params: dict[str, Any]) -> Any:
        conn = self.module.connect(connection_factory=self._connection, cursor_factory=self._cursor, **params)
        conn.autocommit = False
        return conn

    def copy_in(self, cursor: Any, sql: str, source: CopySource) -> int:
        source = _chunks_or_file(source)
        reader = source if hasattr(source, "read") else IterableReader(source)
        cursor.copy_expert(sql, reader, size=COPY_CHUNK)
        return cursor.rowcount

    def copy_out(self, cursor: Any, sql: str, sink: IO[bytes]) -> int:
        cursor.copy_expert(sql, sink, size=COPY_CHUNK)
        return cursor.rowcount

    def sqlstate(self, exc: BaseException) -> str | None:
        return getattr(exc, "pgcode", None)

    def is_alive(self, conn: Any) -> bool:
        return conn.closed == 0


class Psycopg3Driver(Driver):
    """psycopg 3 and its rename ``gaussdb`` (same API, different import name)."""

    def __init__(self, module_name: str) -> None:
        self.name = module_name
        self.module = module = importlib.import_module(module_name)
        sql_mod = importlib.import_module(f"{module_name}.sql")

        def seen(cur: Any, query: Any) -> None:
            _seen(query, cur.connection, sql_mod.Composable, cur.connection)

        class ObservedCursor(module.ClientCursor):
            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                seen(self, query)
                return super().execute(query, params, **kwargs)

            def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
                seen(self, query)
                return super().executemany(query, params_seq, **kwargs)

            def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
                seen(self, statement)
                return super().copy(statement, params, **kwargs)

        class ObservedConnection(module.Connection):
            gb_dialect = UNKNOWN_DIALECT

        self._cursor = ObservedCursor
        self._connection = ObservedConnection

    def connect(self, params: dict[str, Any]) -> Any:
        return self._connection.connect(autocommit=False, cursor_factory=self._cursor, **params)

    def copy_in(self, cursor: Any, sql: str, source: CopySource) -> int:
        source = _chunks_or_file(source)
        with cursor.copy(sql) as copy:
            if hasattr(source, "read"):
                while chunk := source.read(COPY_CHUNK):  # type: ignore[union-attr]
                    copy.write(chunk)
            else:
                for chunk in source:
                    copy.write(chunk)
        return cursor.rowcount

    def copy_out(self, cursor: Any, sql: str, sink: IO[bytes]) -> int:
        with cursor.copy(sql) as copy:
            for block in copy:
                sink.write(block)
        return cursor.rowcount

    def sqlstate(self, exc: BaseException) -> str | None:
        return getattr(exc, "sqlstate", None)

    def is_alive(self, conn: Any) -> bool:
        return not (conn.closed or conn.broken)

    def cancel(self, conn: Any) -> None:
        getattr(conn, "cancel_safe", conn.cancel)()


DRIVER_NAMES = ("psycopg2", "psycopg", "gaussdb")
_cache: dict[str, Driver] = {}


def get_driver(name: str) -> Driver:
    """The Driver for a connection's ``driver`` extra (created once per process)."""
    if name not in DRIVER_NAMES:
        raise ValueError(f"Connection extra driver={name!r} is not supported; use one of {', '.join(DRIVER_NAMES)}")
    if name not in _cache:
        if name == "gaussdb":
            ensure_gaussdb_driver_usable()
        _cache[name] = Psycopg2Driver() if name == "psycopg2" else Psycopg3Driver(name)
    return _cache[name]


def driver_of_exception(exc: BaseException) -> Driver | None:
    """The loaded driver whose Error class ``exc`` belongs to (errors may cross drivers in a pipe)."""
    for driver in list(_cache.values()):
        if isinstance(exc, driver.Error):
            return driver
    return None
