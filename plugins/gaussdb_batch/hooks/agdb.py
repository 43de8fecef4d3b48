"""A synchronous DB-API 2.0 face on ``async_gaussdb``, the driver that needs no libpq.

GaussDB and openGauss ask for their sha256 exchange by default; stock libpq cannot
answer it, ``async_gaussdb`` (an asyncpg fork with its own protocol code) can. The hook
is synchronous, so each Connection owns a private event loop and drives it from the
calling thread (from a helper thread when that thread already runs a loop). The loop
never outlives the connection and is never shared, so nothing leaks across tasks or
threads. What callers see is psycopg2's model: autocommit off (``BEGIN`` is sent before
the first statement of a transaction), ``%s`` / ``%(name)s`` rendered client-side
(gaussdb_batch.hooks.literals), tuples as rows, exceptions carrying ``sqlstate`` and a
``diag``, ``cursor(name=...)`` as a server-side cursor (a portal fetched in batches).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NamedTuple, TypeVar

import async_gaussdb
from async_gaussdb import connect_utils
from async_gaussdb import exceptions as agx

from gaussdb_batch.hooks import agdb_login
from gaussdb_batch.hooks.literals import BindError, render
from gaussdb_batch.hooks.sqltext import shape
from gaussdb_batch.identifiers import quote_ident

T = TypeVar("T")

apilevel = "2.0"
threadsafety = 1
paramstyle = "pyformat"

COPY_CHUNK = 64 * 1024
#: The library's own sha256 answer ignores the server's iteration count: ours replaces it.
SHA256_LOGIN = agdb_login.install()
CLOSE_TIMEOUT = 5.0
CANCEL_TIMEOUT = 10.0


# -- DB-API exceptions -------------------------------------------------------------------
class Warning(Exception):  # noqa: A001 - the DB-API name
    """DB-API Warning."""


class Error(Exception):
    """Base of this driver's errors; ``sqlstate`` is the server's code or None."""

    sqlstate: str | None = None
    diag: Diagnostics | None = None
    original: BaseException | None = None

    @property
    def pgcode(self) -> str | None:
        return self.sqlstate


class InterfaceError(Error):
    """Misuse of the driver (closed cursor or connection) or a client-side protocol fault."""


class DatabaseError(Error):
    """An error reported by the server, or a lost connection."""


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


@dataclass(frozen=True)
class Diagnostics:
    """The fields psycopg's ``exc.diag`` offers; object names only in the first four."""

    schema_name: str | None = None
    table_name: str | None = None
    column_name: str | None = None
    constraint_name: str | None = None
    message_primary: str | None = None
    message_detail: str | None = None
    sqlstate: str | None = None


_BY_CLASS: dict[str, type[DatabaseError]] = {
    "22": DataError,
    "23": IntegrityError,
    "08": OperationalError,
    "28": OperationalError,
    "40": OperationalError,
    "53": OperationalError,
    "57": OperationalError,
    "58": OperationalError,
    "42": ProgrammingError,
    "0A": NotSupportedError,
    "XX": InternalError,
}


def translate(exc: BaseException) -> Error | None:
    """This module's exception for an ``async_gaussdb`` / socket error; None for anything else."""
    if isinstance(exc, Error):
        return exc
    err: Error
    if isinstance(exc, agx.GaussDBError):
        sqlstate = getattr(exc, "sqlstate", None)
        cls = _BY_CLASS.get((sqlstate or "")[:2], DatabaseError)
        message = getattr(exc, "message", None) or str(exc)
        err = cls(message)
        err.sqlstate = sqlstate
        err.diag = Diagnostics(
            schema_name=getattr(exc, "schema_name", None),
            table_name=getattr(exc, "table_name", None),
            column_name=getattr(exc, "column_name", None),
            constraint_name=getattr(exc, "constraint_name", None),
            message_primary=message,
            message_detail=getattr(exc, "detail", None),
            sqlstate=sqlstate,
        )
    elif isinstance(exc, (OSError, asyncio.TimeoutError, TimeoutError, agx.InternalClientError)):
        err = OperationalError(f"connection to the server failed or was lost: {type(exc).__name__}: {exc}")
    elif isinstance(exc, agx.InterfaceError):
        text = str(exc)
        lost = "closed" in text.lower() or "connection" in text.lower()
        err = (OperationalError if lost else InterfaceError)(text)
    elif isinstance(exc, BindError):
        err = ProgrammingError(str(exc))
    else:
        return None
    err.original = exc
    return err


# -- the event loop of one connection ------------------------------------------------------
def _drive(loop: asyncio.AbstractEventLoop, coro: Awaitable[T]) -> T:
    """Run ``coro`` on ``loop`` to completion, from this thread unless it already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return loop.run_until_complete(coro)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = loop.run_until_complete(coro)
        except BaseException as exc:  # handed back to the calling thread
            box["error"] = exc

    helper = threading.Thread(target=run, name="gaussdb-batch-agdb", daemon=True)
    helper.start()
    helper.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def _shutdown_loop(loop: asyncio.AbstractEventLoop) -> None:
    if loop.is_closed():
        return
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending and not loop.is_running():
            _drive(loop, asyncio.gather(*pending, return_exceptions=True))
        if not loop.is_running():
            _drive(loop, loop.shutdown_asyncgens())
    finally:
        if not loop.is_running():
            loop.close()


def _dispose(raw: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Finalizer of a Connection never closed: drop the socket and the loop."""
    try:
        raw.terminate()
    except Exception:  # noqa: S110 - best effort at garbage collection
        pass
    _shutdown_loop(loop)


async def _connect(kwargs: dict[str, Any]) -> Any:
    return await async_gaussdb.connect(**kwargs)


def _refuse_counts_the_library_gets_wrong(host: str, port: int, user: str, dbname: str, timeout: float,
                                          dsn: str | None) -> None:  # fmt: skip
    """Without agdb_login in place the library answers sha256 with 10000 iterations whatever the
    server asked: read the server's count first (no password sent) and refuse any other."""
    from urllib.parse import parse_qs, urlsplit

    from gaussdb_batch.hooks.auth import probe_auth

    sslmode = parse_qs(urlsplit(dsn).query).get("sslmode", [None])[-1] if dsn else None
    found = probe_auth(host, port, user, dbname, timeout=timeout, sslmode=sslmode)
    if found.method == "sha256" and found.iterations not in (None, agdb_login.DEFAULT_ITERATIONS):
        raise agdb_login.ChallengeRefused(
            f"the server asks for {found.iterations} PBKDF2 iterations (auth_iteration_count) and this "
            f"async_gaussdb {getattr(async_gaussdb, '__version__', '?')} always answers with "
            f"{agdb_login.DEFAULT_ITERATIONS}, which the server would count as a wrong password; set "
            f"auth_iteration_count = {agdb_login.DEFAULT_ITERATIONS} for this role's password or use another driver"
        )


def connect(
    *,
    host: str | None = None,
    port: int | None = None,
    dbname: str | None = None,
    user: str | None = None,
    password: str | None = None,
    server_settings: dict[str, str] | None = None,
    connect_timeout: float = 10,
    keepalives: tuple[int, int, int] | None = None,
    ssl: Any = None,
    target_session_attrs: str | None = None,
    dsn: str | None = None,
    connection_factory: type[Connection] | None = None,
    cursor_factory: type[Cursor] | None = None,
) -> Connection:
    """Open a session; ``server_settings`` travel in the startup packet. Autocommit is off."""
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "database": dbname,
        "user": user,
        "password": password,
        "server_settings": dict(server_settings or {}),
        "timeout": connect_timeout,
        # Values are rendered into the text, so statements never repeat: cache nothing and
        # use the unnamed statement (no server-side prepared statements pile up).
        "statement_cache_size": 0,
    }
    if dsn:
        kwargs["dsn"] = dsn
    if ssl is not None:
        kwargs["ssl"] = ssl
    if target_session_attrs:
        kwargs["target_session_attrs"] = target_session_attrs
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if not SHA256_LOGIN and host and not str(host).startswith("/"):
        _refuse_counts_the_library_gets_wrong(str(host), int(port or 5432), user or "", dbname or user or "",
                                              connect_timeout, dsn)  # fmt: skip
    loop = asyncio.new_event_loop()
    try:
        raw = _drive(loop, _connect(kwargs))
    except BaseException as exc:
        _shutdown_loop(loop)
        err = translate(exc)
        if err is None:
            raise
        if err.sqlstate == agdb_login.REFUSED_SQLSTATE and str(err).startswith(agdb_login.REFUSED_PREFIX):
            raise agdb_login.ChallengeRefused(str(err)) from None  # not a server error: never retried
        raise err from None
    conn = (connection_factory or Connection)(raw, loop)
    if cursor_factory is not None:
        conn.cursor_factory = cursor_factory
    if keepalives:
        conn._set_keepalives(*keepalives)
    return conn


class Connection:
    """A DB-API connection over one ``async_gaussdb`` session and its private loop."""

    Error = Error
    cursor_factory: type[Cursor]

    def __init__(self, raw: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._raw = raw
        self._loop = loop
        self._lock = threading.Lock()
        self._autocommit = False
        self._closed = False
        self._finalizer = weakref.finalize(self, _dispose, raw, loop)
        self.cursor_factory = Cursor

    # -- plumbing ------------------------------------------------------------------
    def _run(self, coro: Awaitable[T]) -> T:
        if self._closed:
            if hasattr(coro, "close"):
                coro.close()  # type: ignore[union-attr]
            raise InterfaceError("connection already closed")
        with self._lock:
            try:
                return _drive(self._loop, coro)
            except Exception as exc:
                err = translate(exc)
                if err is None:
                    raise
                raise err from None
            except BaseException:
                # Interrupted mid-statement (task killed, KeyboardInterrupt): the protocol
                # state is unknown, so the session cannot be trusted any more.
                self._abort()
                raise

    async def _begin_if_needed(self) -> None:
        if not self._autocommit and not self._raw.is_in_transaction():
            await self._raw.execute("BEGIN")

    def _abort(self) -> None:
        self._closed = True
        self._finalizer()

    def _set_keepalives(self, idle: int, interval: int, count: int) -> None:
        import socket

        sock = self._raw._transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for opt, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count)):
            if hasattr(socket, opt):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)

    # -- DB-API ------------------------------------------------------------------------
    @property
    def closed(self) -> int:
        """0 while open, like psycopg2 (1 once closed or lost)."""
        return 1 if self._closed or self._raw.is_closed() else 0

    @property
    def broken(self) -> bool:
        return not self._closed and self._raw.is_closed()

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        if not self._closed and self._raw.is_in_transaction():
            raise ProgrammingError("autocommit cannot change inside a transaction; commit or roll back first")
        self._autocommit = bool(value)

    @property
    def in_transaction(self) -> bool:
        return not self.closed and self._raw.is_in_transaction()

    def cursor(self, name: str | None = None) -> Cursor:
        if self._closed:
            raise InterfaceError("connection already closed")
        return self.cursor_factory(self, name=name)

    def commit(self) -> None:
        async def commit() -> None:
            if self._raw.is_in_transaction():
                await self._raw.execute("COMMIT")

        self._run(commit())

    def rollback(self) -> None:
        async def rollback() -> None:
            if self._raw.is_in_transaction():
                await self._raw.execute("ROLLBACK")

        self._run(rollback())

    def close(self) -> None:
        """Close the session (a Terminate message) and the loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            with self._lock:
                if not self._raw.is_closed():
                    _drive(self._loop, self._raw.close(timeout=CLOSE_TIMEOUT))
        except Exception:
            self._raw.terminate()
        finally:
            self._finalizer()

    def cancel(self) -> None:
        """Cancel the running statement; safe from any thread (a new socket, never this loop)."""
        raw = self._raw
        pid, secret = raw._protocol.backend_pid, raw._protocol.backend_secret
        failure: list[BaseException] = []

        async def send() -> None:
            await connect_utils._cancel(
                loop=asyncio.get_running_loop(), addr=raw._addr, params=raw._params,
                backend_pid=pid, backend_secret=secret,
            )  # fmt: skip

        def run() -> None:
            try:
                asyncio.run(send())
            except ConnectionResetError:
                pass  # some servers reset the cancel connection once served
            except BaseException as exc:
                failure.append(exc)

        helper = threading.Thread(target=run, name="gaussdb-batch-agdb-cancel", daemon=True)
        helper.start()
        helper.join(CANCEL_TIMEOUT)
        if failure:
            err = translate(failure[0])
            raise err if err is not None else failure[0]

    def fileno(self) -> int:
        return self._raw._transport.get_extra_info("socket").fileno()

    def get_backend_pid(self) -> int:
        return int(self._raw.get_server_pid())

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        # psycopg2's semantics: leaving the block ends the transaction, not the session.
        if self._closed:
            return
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


class Column(NamedTuple):
    """One entry of ``cursor.description`` (the DB-API 7-tuple)."""

    name: str
    type_code: int
    display_size: None = None
    internal_size: None = None
    precision: None = None
    scale: None = None
    null_ok: None = None


def _description(attributes: Iterable[Any]) -> tuple[Column, ...] | None:
    cols = tuple(Column(str(a.name), int(a.type.oid)) for a in attributes)
    return cols or None


def _rowcount(status: str | bytes | None) -> int:
    """Rows from a command tag: 'INSERT 0 5', 'UPDATE 3', 'SELECT 7', 'COPY 9'."""
    if isinstance(status, bytes):
        status = status.decode("ascii", "replace")
    parts = (status or "").split()
    if parts and parts[0] in {"INSERT", "UPDATE", "DELETE", "SELECT", "MERGE", "COPY", "FETCH", "MOVE"}:
        try:
            return int(parts[-1])
        except ValueError:
            return -1
    return -1


class Cursor:
    """Client-side cursor (rows buffered per statement) or, with a name, a server-side one."""

    arraysize = 1

    def __init__(self, connection: Connection, *, name: str | None = None) -> None:
        self.connection = connection
        self.name = name
        self.itersize = 2000
        self.description: tuple[Column, ...] | None = None
        self.rowcount = -1
        self.statusmessage: str | None = None
        self.query: str | None = None
        self._rows: list[tuple[Any, ...]] = []
        self._pos = 0
        self._portal: str | None = None
        self._exhausted = False
        self._closed = False

    # -- statements --------------------------------------------------------------------
    def _check(self) -> None:
        if self._closed:
            raise InterfaceError("cursor already closed")
        if self.connection._closed:
            raise InterfaceError("connection already closed")

    def _reset(self) -> None:
        self.description, self.rowcount, self.statusmessage = None, -1, None
        self._rows, self._pos, self._portal, self._exhausted = [], 0, None, False

    def execute(self, query: str | bytes, params: Any = None) -> None:
        self._check()
        self._statement(query, params)

    def _statement(self, query: str | bytes, params: Any) -> None:
        text = render(query.decode() if isinstance(query, bytes) else str(query), params)
        self._reset()
        self.query = text
        if self.name is not None:
            self.connection._run(self._open_portal(text))
        else:
            self.connection._run(self._execute(text))

    def executemany(self, query: str | bytes, params_seq: Iterable[Any]) -> None:
        self._check()
        total = 0
        for params in params_seq:
            self._statement(query, params)
            total += max(self.rowcount, 0)
        self.rowcount = total

    async def _execute(self, text: str) -> None:
        raw = self.connection._raw
        await self.connection._begin_if_needed()
        sql = shape(text)
        if sql.several or not sql.may_return_rows:
            status = await raw.execute(text)  # simple query protocol: one round trip
        else:
            stmt = await raw._get_statement(text, None)
            records, status, _ = await raw._protocol.bind_execute(
                state=stmt, args=(), portal_name="", limit=0, return_extra=True, timeout=None
            )
            self.description = _description(stmt._get_attributes())
            self._rows = [tuple(r) for r in records]
        self.statusmessage = status.decode() if isinstance(status, bytes) else status
        self.rowcount = _rowcount(self.statusmessage)

    async def _open_portal(self, text: str) -> None:
        # DECLARE / FETCH rather than the driver's own cursor API: that one requires a
        # transaction opened through its Transaction object, and this is plain SQL that
        # openGauss and PostgreSQL both run inside any transaction.
        await self.connection._begin_if_needed()
        name = quote_ident(self.name or "", what="cursor name")
        await self.connection._raw.execute(f"DECLARE {name} NO SCROLL CURSOR FOR {text}")
        self._portal = name
        stmt = await self.connection._raw._get_statement(f"FETCH FORWARD 0 FROM {name}", None)
        self.description = _description(stmt._get_attributes())
        self.rowcount = 0

    async def _fetch_from_portal(self, n: int) -> list[Any]:
        raw = self.connection._raw
        stmt = await raw._get_statement(f"FETCH FORWARD {int(n)} FROM {self._portal}", None)
        records, _, _ = await raw._protocol.bind_execute(
            state=stmt, args=(), portal_name="", limit=0, return_extra=True, timeout=None
        )
        return list(records)

    # -- rows --------------------------------------------------------------------------
    def _fetch_portal(self, n: int) -> list[tuple[Any, ...]]:
        if self._exhausted or n <= 0:
            return []
        records = self.connection._run(self._fetch_from_portal(n))
        rows = [tuple(r) for r in records]
        if len(rows) < n:
            self._exhausted = True
        self.rowcount += len(rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        self._check()
        if self._portal is not None:
            rows = self._fetch_portal(1)
            return rows[0] if rows else None
        if self._pos < len(self._rows):
            self._pos += 1
            return self._rows[self._pos - 1]
        return None

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        self._check()
        n = self.arraysize if size is None else size
        if self._portal is not None:
            return self._fetch_portal(n)
        rows = self._rows[self._pos : self._pos + n]
        self._pos += len(rows)
        return rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        self._check()
        if self._portal is not None:
            out: list[tuple[Any, ...]] = []
            while batch := self._fetch_portal(self.itersize):
                out.extend(batch)
            return out
        rows = self._rows[self._pos :]
        self._pos = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while True:
            rows = self.fetchmany(self.itersize if self._portal is not None else 1000)
            if not rows:
                return
            yield from rows

    # -- COPY --------------------------------------------------------------------------
    def copy_from(self, sql: str, source: IO[bytes] | Iterable[bytes]) -> int:
        """``COPY ... FROM STDIN`` from a binary file or an iterable of chunks; returns rows."""
        self._check()
        self._reset()

        async def chunks() -> AsyncIterator[bytes]:
            if hasattr(source, "read"):
                while block := source.read(COPY_CHUNK):  # type: ignore[union-attr]
                    yield bytes(block)
            else:
                for block in source:  # type: ignore[union-attr]
                    if block:
                        yield bytes(block)

        async def run() -> str:
            await self.connection._begin_if_needed()
            return await self.connection._raw._copy_in(sql, chunks(), None)

        self.statusmessage = self.connection._run(run())
        self.rowcount = _rowcount(self.statusmessage)
        return self.rowcount

    def copy_to(self, sql: str, sink: IO[bytes]) -> int:
        """``COPY ... TO STDOUT`` into a binary file, written in blocks of at most 64 KiB."""
        self._check()
        self._reset()

        async def write(data: bytes) -> None:
            view = memoryview(data)
            for start in range(0, len(view), COPY_CHUNK):
                sink.write(view[start : start + COPY_CHUNK].tobytes())

        async def run() -> str:
            await self.connection._begin_if_needed()
            return await self.connection._raw._copy_out(sql, write, None)

        self.statusmessage = self.connection._run(run())
        self.rowcount = _rowcount(self.statusmessage)
        return self.rowcount

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._rows = []
        if self._portal is not None and not self.connection.closed and self.connection.in_transaction:
            portal, self._portal = self._portal, None
            try:
                self.connection._run(self.connection._raw.execute(f"CLOSE {portal}"))
            except Error:
                pass  # the transaction already failed; its end closes the portal anyway

    def setinputsizes(self, sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
