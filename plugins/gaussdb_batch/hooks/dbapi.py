"""The database objects GaussDBHook hands out, typed as Protocols instead of ``Any``.

Every driver behind the hook (psycopg2, psycopg 3, ``gaussdb``, ``async_gaussdb``)
satisfies these structurally: psycopg2's paramstyle (``%s`` / ``%(name)s``), autocommit
off, rows as sequences. Driver-specific calls (COPY, SQLSTATE, cancel) go through
gaussdb_batch.hooks.drivers.Driver, never through these objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, Union, runtime_checkable

Params = Union[Sequence[Any], Mapping[str, Any], None]
Row = Sequence[Any]


@runtime_checkable
class Cursor(Protocol):
    """A DB-API cursor as the hook's callers use it."""

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    @property
    def rowcount(self) -> int: ...

    def execute(self, query: Any, params: Params = None, /) -> Any: ...

    def executemany(self, query: Any, params_seq: Iterable[Params], /) -> Any: ...

    def fetchone(self) -> Row | None: ...

    def fetchmany(self, size: int = ..., /) -> Sequence[Row]: ...

    def fetchall(self) -> Sequence[Row]: ...

    def close(self) -> None: ...

    def __iter__(self) -> Iterator[Row]: ...

    def __enter__(self) -> Cursor: ...

    def __exit__(self, *exc: Any) -> Any: ...


@runtime_checkable
class Connection(Protocol):
    """A DB-API connection made by GaussDBHook: autocommit off, ``gb_dialect`` set."""

    gb_dialect: str
    autocommit: bool

    @property
    def closed(self) -> Any: ...

    def cursor(self, *args: Any, **kwargs: Any) -> Cursor: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


class NoRowError(LookupError):
    """A statement that always returns a row returned none: the database is not what the code expects."""


def one_row(cur: Cursor, what: str = "the statement") -> Row:
    """The next row of ``cur``; raises instead of handing back None (``fetchone()[0]`` would fail later
    with an unhelpful TypeError)."""
    row = cur.fetchone()
    if row is None:
        raise NoRowError(f"{what} returned no row")
    return row


def scalar(cur: Cursor, what: str = "the statement") -> Any:
    """The first column of the next row of ``cur`` (which may be NULL); raises when there is no row."""
    return one_row(cur, what)[0]
