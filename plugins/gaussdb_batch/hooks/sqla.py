"""SQLAlchemy over the hook's own sessions: its driver, its login, its session settings.

A ``postgresql+psycopg2`` URL makes SQLAlchemy log in through libpq, which cannot answer
openGauss's default sha256 exchange, and skips the hook's session settings. Here
SQLAlchemy's PostgreSQL dialect runs on whatever DB-API the hook chose (psycopg2,
psycopg 3, PyPI ``gaussdb`` or ``async_gaussdb``, all psycopg2-shaped: ``pyformat``
parameters rendered client-side, type OIDs in ``cursor.description``, autocommit off),
and every pooled connection comes from ``GaussDBHook.get_conn()``: ``hook_engine``.

``postgresql+gaussdb_batch://user:password@host:port/db?driver=<name>`` URLs (what
``GaussDBHook.get_uri`` hands out for drivers without a SQLAlchemy dialect of their own)
open sessions through the driver layer with the connection's parameters but without the
hook's session settings; pandas and other URL-only tools can use them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol, cast

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import URL, Engine, create_engine
from sqlalchemy.engine.interfaces import IsolationLevel

from gaussdb_batch.dialects import server_probes as probes
from gaussdb_batch.hooks.dbapi import scalar



class _Hook(Protocol):
    """What an engine needs of GaussDBHook (named structurally: the hook imports this module)."""

    @property
    def driver(self) -> Any: ...

    def get_conn(self) -> Any: ...

DIALECT_NAME = "postgresql+gaussdb_batch"
_DEFAULT_DRIVER = "async_gaussdb"
_VERSION = re.compile(r"(?:PostgreSQL|openGauss|GaussDB Kernel|GaussDB)\D*(\d+)\.(\d+)(?:\.(\d+))?")


class HookDialect(PGDialect):
    """PostgreSQL's SQL compiler and reflection on the DB-API module of one of the hook's drivers."""

    driver = "gaussdb_batch"
    supports_statement_cache = True
    default_paramstyle = "pyformat"
    supports_native_decimal = True
    supports_server_side_cursors = False
    gb_driver = _DEFAULT_DRIVER

    @classmethod
    def import_dbapi(cls) -> Any:
        from gaussdb_batch.hooks.drivers import get_driver

        return get_driver(cls.gb_driver).module

    @classmethod
    def get_dialect_cls(cls, url: URL) -> type[HookDialect]:
        name = url.query.get("driver") or cls.gb_driver
        if isinstance(name, tuple):
            name = name[-1]
        return dialect_for(str(name))

    def create_connect_args(self, url: URL) -> tuple[list[Any], dict[str, Any]]:
        params: dict[str, Any] = {k: v for k, v in url.query.items() if k != "driver"}
        for key, value in (("host", url.host), ("port", url.port), ("dbname", url.database),
                           ("user", url.username), ("password", url.password)):  # fmt: skip
            if value is not None:
                params[key] = value
        return [], {"params": params}

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        from gaussdb_batch.hooks.drivers import get_driver

        return get_driver(self.gb_driver).connect(dict(cparams["params"]))

    def _get_server_version_info(self, connection: Any) -> tuple[int, ...]:
        # openGauss reports 9.2.4 (or its own release in version()); what SQLAlchemy gates
        # on that number (RETURNING, reflection queries) is the PostgreSQL 9.2 subset it has.
        text = connection.exec_driver_sql(probes.CATALOG_VERSION_SQL).scalar() or ""
        found = _VERSION.search(str(text))
        if not found or "PostgreSQL" not in found.group(0):
            return (9, 2, 4)
        return tuple(int(part) for part in found.groups() if part is not None)

    def do_ping(self, dbapi_connection: Any) -> bool:
        with dbapi_connection.cursor() as cur:
            cur.execute(probes.PING_SQL)
        return True

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        from gaussdb_batch.hooks.drivers import get_driver

        driver = get_driver(self.gb_driver)
        if connection is not None and not driver.is_alive(connection):
            return True
        return isinstance(e, BaseException) and driver.connection_lost(e)

    def set_isolation_level(self, dbapi_connection: Any, level: str) -> None:
        if level == "AUTOCOMMIT":
            dbapi_connection.autocommit = True
            return
        dbapi_connection.autocommit = False
        super().set_isolation_level(dbapi_connection, level)

    def get_isolation_level(self, dbapi_connection: Any) -> IsolationLevel:
        if getattr(dbapi_connection, "autocommit", False):
            return "AUTOCOMMIT"
        with dbapi_connection.cursor() as cur:
            cur.execute(probes.ISOLATION_LEVEL_SQL)
            val = scalar(cur, "the isolation level")
        dbapi_connection.rollback()
        return cast(IsolationLevel, str(val).upper())

    def get_isolation_level_values(self, dbapi_conn: Any) -> Sequence[IsolationLevel]:
        return ["AUTOCOMMIT", *super().get_isolation_level_values(dbapi_conn)]


_dialects: dict[str, type[HookDialect]] = {}


def dialect_for(driver_name: str) -> type[HookDialect]:
    """The HookDialect subclass whose DB-API module is the driver ``driver_name``."""
    from gaussdb_batch.hooks.drivers import DRIVER_NAMES

    if driver_name not in DRIVER_NAMES:
        raise ValueError(f"{DIALECT_NAME} URL names driver {driver_name!r}; use one of {', '.join(DRIVER_NAMES)}")
    if driver_name not in _dialects:
        _dialects[driver_name] = type(f"HookDialect_{driver_name}", (HookDialect,),
                                      {"gb_driver": driver_name, "supports_statement_cache": True})  # fmt: skip
    return _dialects[driver_name]


registry.register(DIALECT_NAME.replace("+", "."), __name__, "HookDialect")


def hook_engine(hook: _Hook, **engine_kwargs: Any) -> Engine:
    """An Engine whose every connection is ``hook.get_conn()`` (driver, login, session settings).

    The caller disposes of it. ``engine_kwargs`` go to ``create_engine`` (pool size etc.).
    """
    return create_engine(hook_engine_url(hook), creator=hook.get_conn, **engine_kwargs)


def hook_engine_url(hook: _Hook) -> str:
    """The URL of an engine whose connections a ``creator`` makes with ``hook`` (no credentials in it)."""
    return f"{DIALECT_NAME}://?driver={hook.driver.name}"
