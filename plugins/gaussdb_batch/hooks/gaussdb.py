"""GaussDBHook: the only door to GaussDB / openGauss (and PostgreSQL, its stand-in).

It owns what every caller would otherwise get subtly wrong: the driver (``auto`` asks
the server how it authenticates), session settings (timeouts with units,
application_name, search_path, set only where the detected server has them), server
detection, error classification by SQLSTATE and bounded retries of whole
transactions. It never logs bound parameter values: rows are customer data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import closing
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from more_itertools import chunked

from airflow.providers.common.sql.hooks.sql import DbApiHook
from gaussdb_batch.dialects.server_probes import session_settings_sql
from gaussdb_batch.hooks.auth import cached_probe, driver_for
from gaussdb_batch.hooks.dbapi import Connection
from gaussdb_batch.hooks.detect import GAUSSDB, ServerInfo, probe_server, refuse_dialect
from gaussdb_batch.hooks.drivers import AUTO, Driver, get_driver
from gaussdb_batch.hooks.retry import run_with_retries, to_db_error
from gaussdb_batch.hooks.session import RetryPolicy, SessionSettings
from gaussdb_batch.identifiers import TableRef, quote_ident

if TYPE_CHECKING:
    from gaussdb_batch.dialects import Dialect

T = TypeVar("T")


class GaussDBHook(DbApiHook):
    """Interact with GaussDB / openGauss through async_gaussdb, psycopg2, psycopg 3 or PyPI ``gaussdb``.

    Connection extras are documented in docs/connection.md. ``get_conn()`` returns a new,
    fully configured DB-API connection owned by the caller; ``run_in_transaction`` uses
    one session kept by the hook, closed by ``close()`` or by leaving ``with hook:``.

    :param gaussdb_conn_id: Airflow connection id (conn type ``gaussdb``).
    :param database: overrides the connection's database (its "schema" field).
    """

    conn_name_attr = "gaussdb_conn_id"
    default_conn_name = "gaussdb_default"
    conn_type = "gaussdb"
    hook_name = "GaussDB"
    supports_autocommit = True
    supports_executemany = True

    def __init__(self, *args: Any, database: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.database = database
        self._server_info: ServerInfo | None = None
        self._session: Connection | None = None

    # -- the connection form (Airflow 3.3 reads the same data from the provider metadata) ----
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the gaussdb connection form: label, hint and JSON schema per extra."""
        from gaussdb_batch.hooks.form import CONN_FIELDS

        return {name: dict(field) for name, field in CONN_FIELDS.items()}

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled and pre-filled standard fields of the gaussdb connection form."""
        from gaussdb_batch.hooks.form import UI_FIELD_BEHAVIOUR

        return {key: value.copy() for key, value in UI_FIELD_BEHAVIOUR.items()}

    # -- configuration -------------------------------------------------------------
    @cached_property
    def settings(self) -> SessionSettings:
        """Validated connection extras."""
        return SessionSettings.from_extra(self.connection_extra)

    @cached_property
    def driver(self) -> Driver:
        """The driver of the ``driver`` extra; for ``auto`` the one that answers the server's auth.

        ``gaussdb`` is probed in a child process first (it can crash with a stock libpq).
        """
        name = self.settings.driver
        if name == AUTO:
            name = self._auto_driver_name()
        return get_driver(name)

    def _auto_driver_name(self) -> str:
        conn = self.connection
        host = (conn.host or "").split(",")[0].strip()
        if not host or host.startswith("/"):
            return "psycopg2"  # a Unix socket: libpq's ground, and where local trust lives
        port = int(str(conn.port).split(",")[0]) if conn.port else 5432
        user, dbname = conn.login or "", self.database or conn.schema or conn.login or ""
        probe = cached_probe(
            host, port, user, dbname,
            timeout=float(self.settings.connect_timeout), sslmode=self.settings.passthrough.get("sslmode"),
        )  # fmt: skip
        name = driver_for(probe, where=f"The server at {host}:{port}", user=user)
        self.log.info("Connection %s: the server asks for %s authentication; using driver %s",
                      getattr(conn, "conn_id", "?"), probe.method, name)  # fmt: skip
        return name

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.settings.retry

    def connect_params(self) -> dict[str, Any]:
        """libpq keywords for a new session; contains the password, so never log it."""
        conn = self.connection
        return self.settings.libpq_params(
            host=conn.host or "",
            port=conn.port,
            dbname=self.database or conn.schema or "",
            user=conn.login or "",
            password=conn.password or "",
        )

    # -- sessions ----------------------------------------------------------------------
    def get_conn(self) -> Connection:
        """A new session with every setting applied, autocommit off; the caller closes it.

        Settings every server accepts go first (startup packet, then search_path); the
        server is probed once per hook; then the settings it has are set, in one statement.
        """
        conn = self.driver.connect(self.connect_params())
        try:
            if self.settings.dialect:
                conn.gb_dialect = self.settings.dialect
            if self._server_info is None:
                self._apply(conn, self.settings.universal_plan())
                info = probe_server(conn, self.driver.Error)
                refuse_dialect(self.settings.dialect, info, getattr(self.connection, "conn_id", None))
                self._server_info = info
                self._apply(conn, self._optional_plan(self._server_info))
            else:
                info = self._server_info
                self._apply(conn, self.settings.session_plan(family=info.family, available=info.settings))
            conn.gb_dialect = self.dialect_name
        except BaseException:
            conn.close()
            raise
        return conn

    def _optional_plan(self, info: ServerInfo) -> list[tuple[str, str]]:
        return self.settings.optional_plan(family=info.family, available=info.settings)

    @staticmethod
    def _apply(conn: Connection, plan: list[tuple[str, str]]) -> None:
        """Set ``plan`` for the session with set_config (values bound, so no quoting here)."""
        if not plan:
            return
        sql = session_settings_sql(len(plan))
        with conn.cursor() as cur:
            cur.execute(sql, [item for pair in plan for item in pair])
        conn.commit()

    @property
    def server_info(self) -> ServerInfo:
        """Family, version and sql_compatibility of the server, probed once per hook."""
        if self._server_info is None:
            self.get_conn().close()
        assert self._server_info is not None
        return self._server_info

    @property
    def dialect_name(self) -> str:  # type: ignore[override]  # DbApiHook caches a URL-derived name
        """'gaussdb' or 'postgres': the ``dialect`` extra when set, else the detected family."""
        return self.settings.dialect or self.server_info.family

    @cached_property
    def dialect(self) -> Dialect:  # type: ignore[override]  # this project's dialects, not common-sql's
        """The gaussdb_batch dialect of this server (as PostgresHook returns its own), one per hook.

        Its ``Capabilities`` come from the detected server: ``empty_is_null`` in compatibility mode A,
        ``check_numbers`` in mode B, ``skip_locked`` from the probe or the release (or the extra),
        ``astore`` where tables default to ustore, ``distributed`` on a cluster with data nodes;
        ``upsert_style`` from the extra. Per-target options (``distribute_by``) belong to the batch
        context, which narrows it.
        """
        from gaussdb_batch.dialects import Capabilities, get_dialect

        info = self.server_info
        skip_locked = self.settings.skip_locked
        gaussdb = self.dialect_name == "gaussdb"
        caps = Capabilities.for_family(
            self.dialect_name,
            empty_is_null=bool(info.empty_string_is_null),
            skip_locked=info.supports_skip_locked if skip_locked is None else skip_locked,
            astore=info.default_ustore, distributed=info.distributed,
            check_numbers=gaussdb and info.lax_number_input,
            upsert_style=self.settings.upsert_style if gaussdb else "merge",
        )
        return get_dialect(self.dialect_name, capabilities=caps)

    def _generate_insert_sql(self, table: Any, values: Any, target_fields: Any = None, replace: bool = False,
                             **kwargs: Any) -> str:  # fmt: skip
        """Plain INSERT text by common-sql's generic dialect (``self.dialect`` is this project's)."""
        from airflow.providers.common.sql.dialects.dialect import Dialect as SqlDialect

        return SqlDialect(self).generate_insert_sql(table, values, target_fields, **kwargs)

    def session(self) -> Connection:
        """The hook's reusable session, reopened when it died."""
        if self._session is None or not self.driver.is_alive(self._session):
            self._discard_session()
            self._session = self.get_conn()
        return self._session

    def _release_after_error(self) -> None:
        """Roll back the failed transaction; drop the session when even that fails."""
        if self._session is None:
            return
        try:
            if not self.driver.is_alive(self._session):
                raise ConnectionError("session closed")
            self._session.rollback()
        except Exception:
            self._discard_session()

    def _discard_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:
                self.log.debug("Closing a dead session failed", exc_info=True)

    def close(self) -> None:
        """Close the reusable session (the server sees the backend end at once)."""
        self._discard_session()

    def __enter__(self) -> GaussDBHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions with retries ----------------------------------------------------------
    def run_in_transaction(
        self,
        fn: Callable[[Connection], T],
        *,
        purpose: str,
        attempts: int | None = None,
        max_elapsed: float | None = None,
    ) -> T:
        """Run ``fn(conn)`` in one transaction on the hook's session, commit, return its result.

        Transient errors (SQLSTATE list in the ``retry_sqlstates`` extra, lost sessions) roll
        back, reconnect when needed and retry after jittered exponential backoff, bounded by
        ``attempts`` and ``max_elapsed`` seconds (extras ``retry_attempts`` /
        ``retry_max_elapsed`` by default); then TransientDBError. Other database errors roll
        back and raise PermanentDBError / DataError at once. ``purpose`` names the work in
        logs and errors ("load chunk 7 of run 42"). ``fn`` must not commit.
        """
        policy = self.retry_policy
        if attempts is not None or max_elapsed is not None:
            policy = RetryPolicy(
                attempts=attempts if attempts is not None else policy.attempts,
                max_elapsed=max_elapsed if max_elapsed is not None else policy.max_elapsed,
                initial_delay=policy.initial_delay,
                max_delay=policy.max_delay,
                transient_sqlstates=policy.transient_sqlstates,
            )
        return run_with_retries(
            fn, purpose=purpose, policy=policy, acquire=self.session, release_after_error=self._release_after_error,
            column_names=self.reports_column_names,
        )

    def reports_column_names(self) -> bool:
        """Whether the server's error field 'c' is a column name: PostgreSQL's is, GaussDB / openGauss
        put an internal error code there (decided by the detected family, not the ``dialect`` extra)."""
        return self._server_info is None or self._server_info.family != GAUSSDB

    def run_outside_transaction(self, sql: str, *, purpose: str) -> None:
        """Run one statement in autocommit on the hook's session, with the hook's retries.

        For statements openGauss refuses inside a transaction block (``ANALYZE`` of a table that is
        not temporary, ``VACUUM``: utility.cpp, PreventTransactionChain, SQLSTATE 25001), which
        PostgreSQL only partly refuses. The session is back to autocommit off afterwards.
        """

        def acquire() -> Connection:
            conn = self.session()
            conn.autocommit = True
            return conn

        def work(conn: Connection) -> None:
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
            finally:
                try:
                    conn.autocommit = False
                except Exception:  # a dead session: the retry (or the next use) reopens it
                    self._discard_session()

        run_with_retries(work, purpose=purpose, policy=self.retry_policy, acquire=acquire,
                         release_after_error=self._release_after_error, column_names=self.reports_column_names)

    # -- DbApiHook overrides: no bound values in logs or errors --------------------------------
    def _run_command(self, cur: Any, sql_statement: str, parameters: Any) -> None:
        if self.log_sql:
            self.log.info("Running statement: %s", sql_statement)
        try:
            cur.execute(sql_statement, tuple(parameters) if isinstance(parameters, list) else parameters or None)
        except Exception as exc:
            err = to_db_error(exc, purpose="SQL statement", transient=self.retry_policy.transient_sqlstates,
                              column_names=self.reports_column_names())
            if err is None:
                raise
            raise err from None
        if cur.rowcount is not None and cur.rowcount >= 0:
            self.log.info("Rows affected: %s", cur.rowcount)

    def insert_rows(  # type: ignore[override]
        self,
        table: str,
        rows: Iterable[Iterable[Any]],
        target_fields: Iterable[str] | None = None,
        commit_every: int = 1000,
        replace: bool = False,
        **kwargs: Any,
    ) -> None:
        """Insert rows (one transaction per ``commit_every`` rows) without ever logging them.

        ``replace`` is refused: upserts differ per server family and live in the dialects.
        """
        if replace:
            raise NotImplementedError("GaussDBHook.insert_rows cannot replace; use the dialect's upsert")
        ref = TableRef.parse(table)
        fields = [quote_ident(f, what="column name") for f in target_fields or []]
        nb_rows = 0
        with closing(self.get_conn()) as conn, closing(conn.cursor()) as cur:
            for chunk in chunked(rows, commit_every or 10**9):
                values = [self._serialize_cells(row, conn) for row in chunk]
                sql = self._generate_insert_sql(ref.sql, values[0], fields or None, False, **kwargs)
                try:
                    cur.executemany(sql, values)
                    conn.commit()
                except Exception as exc:
                    err = to_db_error(exc, purpose=f"insert into {ref}", transient=self.retry_policy.transient_sqlstates,
                                      column_names=self.reports_column_names())
                    if err is None:
                        raise
                    raise err from None
                nb_rows += len(values)
                self.log.info("Loaded %s rows into %s so far", nb_rows, ref)

    def get_uri(self) -> str:
        """A SQLAlchemy URL that logs in with this hook's driver (holds the password: never log it).

        psycopg2 and psycopg get their own SQLAlchemy dialects; ``async_gaussdb`` and ``gaussdb``
        get ``postgresql+gaussdb_batch://...?driver=<name>`` (gaussdb_batch.hooks.sqla), so the
        URL answers the same login the hook does (a libpq URL cannot answer sha256). The
        ``ssl*`` extras travel in the query; session settings do not: ``get_sqlalchemy_engine``
        applies them.
        """
        from sqlalchemy.engine import URL

        from gaussdb_batch.hooks import sqla

        conn, name = self.connection, self.driver.name
        scheme = {"psycopg2": "postgresql+psycopg2", "psycopg": "postgresql+psycopg"}.get(name, sqla.DIALECT_NAME)
        query = dict(self.settings.passthrough)
        if scheme == sqla.DIALECT_NAME:
            query["driver"] = name
        return URL.create(
            scheme,
            username=conn.login,
            password=conn.password,
            host=conn.host,
            port=conn.port,
            database=self.database or conn.schema,
            query=query,
        ).render_as_string(hide_password=False)

    def get_sqlalchemy_engine(self, engine_kwargs: dict[str, Any] | None = None) -> Any:
        """An Engine whose connections are this hook's sessions (driver, login, session settings)."""
        from gaussdb_batch.hooks.sqla import hook_engine

        return hook_engine(self, **(engine_kwargs or {}))
