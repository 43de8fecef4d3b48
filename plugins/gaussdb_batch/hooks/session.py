"""Connection extras turned into libpq parameters and per-session settings.

Every session the hook opens carries a statement timeout, an idle-in-transaction
timeout, an application_name naming the Airflow task, and optionally a search_path:
a stuck batch then shows up in pg_stat_activity with its owner and dies on its own.
Timeouts are always sent with a unit: openGauss reads a bare number of
idle_in_transaction_session_timeout as seconds where PostgreSQL reads milliseconds.

Only what every server accepts travels in the startup packet (application_name,
statement_timeout): an unknown startup option is FATAL, and
idle_in_transaction_session_timeout is absent before openGauss 3.0.2 and on
distributed builds. The rest is set once the server is known (``session_plan``),
skipping what it lacks; on GaussDB that includes ``session_timeout``, so the server
never closes an idle session the task still holds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from gaussdb_batch.hooks.errors import DEFAULT_TRANSIENT_SQLSTATES, parse_sqlstate_list
from gaussdb_batch.identifiers import quote_ident, validate_identifier

APP_PREFIX = "gaussdb_batch"
MAX_APP_NAME_BYTES = 63
_DURATION_RE = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)$")
_PASSTHROUGH = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "target_session_attrs")
DIALECTS = ("gaussdb", "postgres")
DRIVER_CHOICES = ("auto", "async_gaussdb", "psycopg2", "psycopg", "gaussdb")
#: GaussDB's ceiling for session_timeout (seconds); 0 disables it.
MAX_SESSION_TIMEOUT_S = 86400
#: Settings whose presence the hook checks on the server before setting them.
OPTIONAL_SETTINGS = ("idle_in_transaction_session_timeout", "session_timeout")


def duration(value: object, *, what: str) -> str:
    """A timeout as a unit string: ints are seconds ('60s'); strings must carry a unit (or be '0')."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a duration like '60s' or '5min', got {value!r}")
    if isinstance(value, int):
        return f"{value}s"
    text = str(value).strip()
    if text == "0" or _DURATION_RE.match(text):
        return text.replace(" ", "")
    raise ValueError(
        f"{what} must be a duration with a unit (us, ms, s, min, h, d) such as '60s', got {value!r}: "
        "a bare number means seconds on GaussDB but milliseconds on PostgreSQL"
    )


def _search_path(value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value or [])  # type: ignore[call-overload]
    names = tuple(str(item).strip() for item in items if str(item).strip())
    for name in names:
        if name != "$user":
            validate_identifier(name, what="search_path schema")
    return names


def _flag(value: object) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the hook's own retries of transient errors (before Airflow's task retries)."""

    attempts: int = 5
    max_elapsed: float = 120.0
    initial_delay: float = 0.5
    max_delay: float = 15.0
    transient_sqlstates: frozenset[str] = DEFAULT_TRANSIENT_SQLSTATES


@dataclass(frozen=True)
class SessionSettings:
    """Everything the hook reads from a connection's extras (see docs/connection.md)."""

    driver: str = "auto"
    dialect: str | None = None
    #: Force the claim without SKIP LOCKED (what openGauss before 3.1.0 gets); None: from detection.
    skip_locked: bool | None = None
    #: GaussDB upserts: MERGE INTO (default) or INSERT ... ON DUPLICATE KEY UPDATE.
    upsert_style: str = "merge"
    statement_timeout: str = "30min"
    idle_in_transaction_timeout: str = "60s"
    #: None: derived from the task's execution_timeout (see ``session_timeout_value``).
    session_timeout: str | None = None
    search_path: tuple[str, ...] = ()
    application_name: str = APP_PREFIX
    session_setup: str = "options"
    connect_timeout: int = 10
    keepalives_idle: int = 30
    keepalives_interval: int = 10
    keepalives_count: int = 3
    passthrough: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> SessionSettings:
        """Validate the extras once, so a typo fails at the first connect with a clear message."""
        # An extra saved empty or null (a connection form's untouched field) is an unset extra.
        extra = {str(k).lower(): v for k, v in (extra or {}).items() if v is not None and v != ""}
        dialect = extra.get("dialect") or None
        if dialect is not None and dialect not in DIALECTS:
            raise ValueError(f"Connection extra dialect={dialect!r} must be one of {DIALECTS} (or absent to detect)")
        upsert_style = str(extra.get("upsert_style") or "merge")
        if upsert_style not in ("merge", "on_duplicate_key"):
            raise ValueError(f"Connection extra upsert_style={upsert_style!r} must be 'merge' or 'on_duplicate_key'")
        setup = extra.get("session_setup", "options")
        if setup not in ("options", "set"):
            raise ValueError(f"Connection extra session_setup={setup!r} must be 'options' or 'set'")
        defaults = RetryPolicy()
        retry = RetryPolicy(
            attempts=max(1, int(extra.get("retry_attempts", defaults.attempts))),
            max_elapsed=float(extra.get("retry_max_elapsed", defaults.max_elapsed)),
            initial_delay=float(extra.get("retry_initial_delay", defaults.initial_delay)),
            max_delay=float(extra.get("retry_max_delay", defaults.max_delay)),
            transient_sqlstates=parse_sqlstate_list(extra["retry_sqlstates"])
            if "retry_sqlstates" in extra
            else defaults.transient_sqlstates,
        )
        session_timeout = extra.get("session_timeout")
        return cls(
            driver=str(extra.get("driver", "auto")),
            dialect=dialect,
            skip_locked=None if extra.get("skip_locked") is None else _flag(extra["skip_locked"]),
            upsert_style=upsert_style,
            statement_timeout=duration(extra.get("statement_timeout", cls.statement_timeout), what="statement_timeout"),
            idle_in_transaction_timeout=duration(
                extra.get("idle_in_transaction_timeout", cls.idle_in_transaction_timeout),
                what="idle_in_transaction_timeout",
            ),
            session_timeout=None if session_timeout in (None, "") else duration(session_timeout, what="session_timeout"),
            search_path=_search_path(extra.get("search_path")),
            application_name=str(extra.get("application_name", APP_PREFIX)),
            session_setup=setup,
            connect_timeout=int(extra.get("connect_timeout", cls.connect_timeout)),
            keepalives_idle=int(extra.get("keepalives_idle", cls.keepalives_idle)),
            keepalives_interval=int(extra.get("keepalives_interval", cls.keepalives_interval)),
            keepalives_count=int(extra.get("keepalives_count", cls.keepalives_count)),
            passthrough={k: str(extra[k]) for k in _PASSTHROUGH if k in extra},
            retry=retry,
        )

    def startup_gucs(self) -> list[tuple[str, str]]:
        """Settings for the startup packet: only those every server family and version accepts."""
        return [("statement_timeout", self.statement_timeout)] if self.session_setup == "options" else []

    def universal_plan(self) -> list[tuple[str, str]]:
        """Settings every server has, set right after connecting (before detection reads the catalog)."""
        pairs: list[tuple[str, str]] = []
        if self.session_setup == "set":
            pairs.append(("statement_timeout", self.statement_timeout))
        if self.search_path:
            pairs.append(("search_path", ",".join(_path_item(n) for n in self.search_path)))
        return pairs

    def optional_plan(self, *, family: str, available: frozenset[str]) -> list[tuple[str, str]]:
        """Settings set once the server is known, leaving out what it lacks.

        ``available`` names the settings of OPTIONAL_SETTINGS the server has (pg_settings).
        No lock_timeout: GaussDB lacks it (only superusers may set lockwait_timeout).
        """
        pairs: list[tuple[str, str]] = []
        if "idle_in_transaction_session_timeout" in available:
            pairs.append(("idle_in_transaction_session_timeout", self.idle_in_transaction_timeout))
        if family == "gaussdb" and "session_timeout" in available:
            pairs.append(("session_timeout", self.session_timeout_value()))
        return pairs

    def session_plan(self, *, family: str, available: frozenset[str]) -> list[tuple[str, str]]:
        """Everything set in a session after connecting, in order."""
        return self.universal_plan() + self.optional_plan(family=family, available=available)

    def session_timeout_value(self) -> str:
        """GaussDB's session_timeout: the extra, else the task's execution_timeout plus a minute.

        Without either it is 0 (off): the server must not close a session between two
        chunks of a long task; keepalives and the two statement-level timeouts still end
        sessions that are really stuck.
        """
        if self.session_timeout is not None:
            return self.session_timeout
        seconds = task_execution_timeout()
        if seconds is None or seconds + 60 > MAX_SESSION_TIMEOUT_S:
            return "0"
        return f"{int(seconds) + 60}s"

    def options(self) -> str:
        """The libpq ``options`` string: startup settings, no extra round trip."""
        return " ".join("-c " + f"{name}={value}".replace(" ", "\\ ") for name, value in self.startup_gucs())

    def libpq_params(self, *, host: str, port: int | None, dbname: str, user: str, password: str) -> dict[str, Any]:
        """Keyword arguments for the driver's connect(); None values are dropped."""
        params: dict[str, Any] = {
            "host": host or None,
            "port": port,
            "dbname": dbname or None,
            "user": user or None,
            "password": password or None,
            "application_name": application_name(self.application_name),
            "connect_timeout": self.connect_timeout,
            "keepalives": 1,
            "keepalives_idle": self.keepalives_idle,
            "keepalives_interval": self.keepalives_interval,
            "keepalives_count": self.keepalives_count,
            **self.passthrough,
        }
        if self.startup_gucs():
            params["options"] = self.options()
        return {k: v for k, v in params.items() if v is not None}


def _path_item(name: str) -> str:
    return '"$user"' if name == "$user" else quote_ident(name, what="search_path schema")


def task_execution_timeout() -> float | None:
    """The running task's execution_timeout in seconds, or None (outside a task, or unset)."""
    try:
        from airflow.sdk import get_current_context

        timeout = get_current_context()["ti"].task.execution_timeout
    except Exception:  # outside a task, or a task object without the attribute
        return None
    return None if timeout is None else float(timeout.total_seconds())


def task_identity() -> tuple[str, str, int] | None:
    """(dag_id, task_id, map_index) of the running Airflow task, or None outside a task."""
    try:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
        map_index = getattr(ti, "map_index", None)
        return str(ti.dag_id), str(ti.task_id), -1 if map_index is None else int(map_index)
    except Exception:  # outside a task the SDK raises; any failure means "no task"
        dag_id, task_id = os.environ.get("AIRFLOW_CTX_DAG_ID"), os.environ.get("AIRFLOW_CTX_TASK_ID")
        return (dag_id, task_id, -1) if dag_id and task_id else None


def application_name(prefix: str = APP_PREFIX) -> str:
    """``prefix:<dag>.<task>[<map_index>]`` inside a task, else ``prefix``; cut to 63 bytes."""
    ident = task_identity()
    name = prefix
    if ident:
        dag_id, task_id, map_index = ident
        name = f"{prefix}:{dag_id}.{task_id}" + (f"[{map_index}]" if map_index >= 0 else "")
    return name.encode("utf-8")[:MAX_APP_NAME_BYTES].decode("utf-8", "ignore")
