"""One interface over psycopg2, psycopg 3, PyPI ``gaussdb`` and PyPI ``async_gaussdb``.

The hook and the engine never touch driver specifics: connect, COPY in/out, the
SQLSTATE attribute (``pgcode`` vs ``sqlstate``), cancel and liveness go through a
Driver. Every driver binds client-side (psycopg 3 through ``ClientCursor``,
``async_gaussdb`` through gaussdb_batch.hooks.literals) so ``%s`` parameters behave as
with psycopg2: the same SQL text on the wire, several statements per execute.
Cursors made here report every statement to gaussdb_batch.hooks.observe; the wrapper
that does it is written once (``observed_cursor_class``) for all drivers.
"""

from __future__ import annotations

import io
import importlib
from collections.abc import Callable, Iterable
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


def _as_text(query: Any, cursor: Any, composable: tuple[type, ...], context: Callable[[Any], Any]) -> str:
    if composable and isinstance(query, composable):
        composed: Any = query  # a driver's sql.Composable: its as_string needs the connection
        return str(composed.as_string(context(cursor)))
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    return str(query)


def observed_cursor_class(
    base: type,
    methods: tuple[str, ...],
    *,
    composable: tuple[type, ...] = (),
    context: Callable[[Any], Any] = lambda cur: cur,
) -> type:
    """A subclass of a driver's cursor whose ``methods`` show their SQL (first argument) to observers.

    ``composable`` are the driver's ``sql.Composable`` classes, rendered with
    ``context(cursor)`` (psycopg2 renders against the cursor, psycopg 3 against the
    connection) only when somebody listens.
    """

    def wrap(name: str) -> Callable[..., Any]:
        original = getattr(base, name)

        def method(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            if observe.has_observers():
                observe.notify(_as_text(query, self, composable, context), _dialect_of(self.connection),
                               self.connection)
            return original(self, query, *args, **kwargs)

        method.__name__ = method.__qualname__ = name
        method.__doc__ = original.__doc__
        return method

    return type(f"Observed{base.__name__}", (base,), {name: wrap(name) for name in methods})


def observed_connection_class(base: type) -> Any:
    """A subclass of a driver's connection that carries the dialect name observers report."""
    return type(f"Observed{base.__name__}", (base,), {"gb_dialect": UNKNOWN_DIALECT})


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

        self.module: Any = psycopg2
        self._cursor = observed_cursor_class(
            ext.cursor, ("execute", "executemany", "copy_expert"), composable=(psycopg2.sql.Composable,)
        )
        self._connection = observed_connection_class(ext.connection)

    def connect(self, params: dict[str, Any]) -> Any:
        conn = self.module.connect(connection_factory=self._connection, cursor_factory=self._cursor, **params)
        conn.autocommit = False
        return conn

    def copy_in(self, cursor: Any, sql: str, source: CopySource) -> int:
        chunks = _chunks_or_file(source)
        reader = chunks if hasattr(chunks, "read") else IterableReader(chunks)
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
        self._cursor = observed_cursor_class(
            module.ClientCursor,
            ("execute", "executemany", "copy"),
            composable=(sql_mod.Composable,),
            context=lambda cur: cur.connection,
        )
        self._connection = observed_connection_class(module.Connection)

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


def _startup_settings(params: dict[str, Any]) -> dict[str, str]:
    """application_name and the ``-c name=value`` pairs of a libpq ``options`` string."""
    settings = {"application_name": str(params["application_name"])} if params.get("application_name") else {}
    words, word, escaped = [], "", False
    for ch in str(params.get("options") or ""):
        if escaped:
            word, escaped = word + ch, False
        elif ch == "\\":
            escaped = True
        elif ch == " ":
            words.append(word)
            word = ""
        else:
            word += ch
    words.append(word)
    words = [w for w in words if w]
    for flag, pair in zip(words[::2], words[1::2]):
        if flag != "-c" or "=" not in pair:
            raise ValueError(f"unsupported startup option {flag!r}: only '-c name=value' pairs are sent")
        name, _, value = pair.partition("=")
        settings[name] = value
    return settings


class AsyncGaussDBDriver(Driver):
    """PyPI ``async_gaussdb`` (asyncpg fork): answers openGauss sha256 without any libpq.

    It speaks protocol 3.51 and cannot answer PostgreSQL's SCRAM (both use request code
    10): test it against a PostgreSQL user with an md5 password. Its synchronous face is
    gaussdb_batch.hooks.agdb.
    """

    name = "async_gaussdb"

    def __init__(self) -> None:
        from gaussdb_batch.hooks import agdb

        self.module = agdb
        self._cursor = observed_cursor_class(agdb.Cursor, ("execute", "executemany", "copy_from", "copy_to"))
        self._connection = observed_connection_class(agdb.Connection)

    def connect(self, params: dict[str, Any]) -> Any:
        from urllib.parse import urlencode

        from gaussdb_batch.hooks.auth import effective_sslmode

        ssl_params: dict[str, Any] = {k: params[k] for k in ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl") if k in params}
        # libpq's choice (PGSSLMODE, else prefer), which driver auto's probe made too; the
        # library alone would read its own GAUSSDBSSLMODE.
        ssl_params["sslmode"] = effective_sslmode(params.get("sslmode"))
        return self.module.connect(
            host=params.get("host"),
            port=params.get("port"),
            dbname=params.get("dbname"),
            user=params.get("user"),
            password=params.get("password"),
            server_settings=_startup_settings(params),
            connect_timeout=float(params.get("connect_timeout") or 60),
            keepalives=(
                (int(params["keepalives_idle"]), int(params["keepalives_interval"]), int(params["keepalives_count"]))
                if params.get("keepalives")
                else None
            ),
            target_session_attrs=params.get("target_session_attrs"),
            dsn="gaussdb://?" + urlencode(ssl_params) if ssl_params else None,
            connection_factory=self._connection,
            cursor_factory=self._cursor,
        )

    def copy_in(self, cursor: Any, sql: str, source: CopySource) -> int:
        return int(cursor.copy_from(sql, _chunks_or_file(source)))

    def copy_out(self, cursor: Any, sql: str, sink: IO[bytes]) -> int:
        return int(cursor.copy_to(sql, sink))

    def sqlstate(self, exc: BaseException) -> str | None:
        return getattr(exc, "sqlstate", None)

    def is_alive(self, conn: Any) -> bool:
        return conn.closed == 0


#: What the ``driver`` extra accepts; ``auto`` is resolved per server by gaussdb_batch.hooks.auth.
DRIVER_NAMES = ("psycopg2", "psycopg", "gaussdb", "async_gaussdb")
AUTO = "auto"
_cache: dict[str, Driver] = {}


def get_driver(name: str) -> Driver:
    """The Driver for a connection's ``driver`` extra (created once per process)."""
    if name not in DRIVER_NAMES:
        choices = ", ".join((AUTO, *DRIVER_NAMES))
        raise ValueError(f"Connection extra driver={name!r} is not supported; use one of {choices}")
    if name not in _cache:
        if name == "gaussdb":
            ensure_gaussdb_driver_usable()
        if name == "psycopg2":
            _cache[name] = Psycopg2Driver()
        elif name == "async_gaussdb":
            _cache[name] = AsyncGaussDBDriver()
        else:
            _cache[name] = Psycopg3Driver(name)
    return _cache[name]


def driver_of_exception(exc: BaseException) -> Driver | None:
    """The loaded driver whose Error class ``exc`` belongs to (errors may cross drivers in a pipe)."""
    for driver in list(_cache.values()):
        if isinstance(exc, driver.Error):
            return driver
    return None
