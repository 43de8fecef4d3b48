"""Process-wide statement observers, and the check for SQL that GaussDB rejects.

Every statement that runs through a connection made by GaussDBHook (``execute``,
``executemany`` and COPY) is shown to the registered observers as
``(sql_text, dialect_name)`` (session observers also learn whether it runs inside a
transaction block). Tests use it as a statement guard: no construct openGauss refuses or reads
differently (``GAUSSDB_RULES``, each citing its openGauss source) may reach a GaussDB session.
The cost when nobody listens is one truthiness check.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from gaussdb_batch.hooks.sqltext import shape

StatementObserver = Callable[[str, str], None]
#: An observer that also learns whether the statement runs inside a transaction block.
SessionObserver = Callable[[str, str, bool], None]

_observers: tuple[StatementObserver, ...] = ()
_session_observers: tuple[SessionObserver, ...] = ()
_lock = threading.Lock()


def _change(observer: Callable[..., None], *, session: bool, add: bool) -> None:
    global _observers, _session_observers
    with _lock:
        current = _session_observers if session else _observers
        changed = (*current, observer) if add else tuple(o for o in current if o is not observer)
        if session:
            _session_observers = changed  # type: ignore[assignment]
        else:
            _observers = changed  # type: ignore[assignment]


def add_statement_observer(observer: StatementObserver) -> None:
    """Register ``observer(sql_text, dialect_name)``; it must be fast and must not raise."""
    _change(observer, session=False, add=True)


def remove_statement_observer(observer: StatementObserver) -> None:
    """Unregister an observer (no error when it is not registered)."""
    _change(observer, session=False, add=False)


def add_session_observer(observer: SessionObserver) -> None:
    """Register ``observer(sql_text, dialect_name, in_transaction)``: ``in_transaction`` is True when
    the statement runs inside a transaction block (autocommit off, or an open explicit one)."""
    _change(observer, session=True, add=True)


def remove_session_observer(observer: SessionObserver) -> None:
    _change(observer, session=True, add=False)


def has_observers() -> bool:
    """True when somebody listens: cursors skip rendering composed SQL otherwise."""
    return bool(_observers or _session_observers)


def in_transaction_block(conn: object) -> bool:
    """Whether a statement executed now on ``conn`` runs inside a transaction block.

    With autocommit off every driver here opens one before the first statement; in autocommit
    only an explicit BEGIN does (psycopg2 and psycopg 3: ``info.transaction_status``, IDLE is 0;
    async_gaussdb: ``in_transaction``).
    """
    if not getattr(conn, "autocommit", False):
        return True
    status = getattr(getattr(conn, "info", None), "transaction_status", None)
    if status is not None:
        return int(status) != 0
    return bool(getattr(conn, "in_transaction", False))


def notify(sql_text: str, dialect_name: str, connection: object = None) -> None:
    """Show one statement to every observer (a snapshot: registration may change concurrently)."""
    for observer in _observers:
        observer(sql_text, dialect_name)
    if _session_observers:
        in_tx = True if connection is None else in_transaction_block(connection)
        for session_observer in _session_observers:
            session_observer(sql_text, dialect_name, in_tx)


@dataclass(frozen=True)
class Rule:
    """Something openGauss refuses or reads differently from PostgreSQL 15, and where that comes from.

    ``source`` is the openGauss file the behaviour lives in (openGauss-server unless it names the
    dolphin plugin), or the run that measured it. ``in_transaction`` rules apply only to
    statements that run inside a transaction block.
    """

    name: str
    pattern: re.Pattern[str]
    source: str
    in_transaction: bool = False


def _rule(name: str, pattern: str, source: str, *, in_transaction: bool = False) -> Rule:
    return Rule(name, re.compile(pattern, re.IGNORECASE | re.DOTALL), source, in_transaction)


#: The statement guard: what a gaussdb-dialect session must never send (GAUSSDB.md). Patterns are
#: case-insensitive and whitespace-tolerant, and see the text with string literals, quoted
#: identifiers and comments blanked out. ``int / int`` (float8 on openGauss) has no rule: the
#: operand types are not in the text; the test suites run it under openGauss's operators instead.
GAUSSDB_RULES: tuple[Rule, ...] = (
    _rule("ON CONFLICT", r"\bON\s+CONFLICT\b", "src/common/backend/parser/gram.y (no ON CONFLICT clause)"),
    _rule("ON COMMIT DROP", r"\bON\s+COMMIT\s+DROP\b",
          "src/gausskernel/optimizer/commands/tablecmds.cpp (ON COMMIT DROP is refused)"),
    _rule("lock_timeout", r"\block_timeout\b", "src/common/backend/utils/misc/guc.cpp (not registered)"),
    _rule("to_regclass", r"\bto_regclass\s*\(", "src/common/backend/catalog/builtin_funcs.ini (absent)"),
    _rule("gen_random_uuid", r"\bgen_random_uuid\s*\(", "src/common/backend/catalog/builtin_funcs.ini (absent)"),
    _rule("GENERATED ... AS IDENTITY", r"\bGENERATED\s+(ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY\b",
          "src/common/backend/parser/gram.y (no identity columns)"),
    _rule("jsonb_build_object", r"\bjsonb_build_object\s*\(",
          "src/common/backend/catalog/builtin_funcs.ini (absent)"),
    _rule("to_jsonb", r"\bto_jsonb\s*\(", "src/common/backend/catalog/builtin_funcs.ini (absent)"),
    _rule("two-argument current_setting", r"\bcurrent_setting\s*\(\s*('(?:[^']|'')*'|[^,()]+)\s*,",
          "src/common/backend/catalog/builtin_funcs.ini (current_setting takes one argument)"),
    _rule("record image operator (*=)", r"\*(?:=|<>|<=|>=)",
          "src/include/catalog/pg_operator.data (no record image operators)"),
    _rule("bare timestamp", r"(?<![\w.$])timestamp\b(?!\s*(?:\(\s*\d+\s*\)\s*)?with(?:out)?\s+time\s+zone)(?!\s*\()"
          r"|(?<![\w.$])timestamp\s*\(\s*\d+\s*\)(?!\s*with(?:out)?\s+time\s+zone)",
          "dolphin plugin contrib/dolphin/plugin_parser/gram.y (B databases: timestamp is timestamptz(0)); "
          "write timestamp without time zone"),
    _rule("CREATE SCHEMA IF NOT EXISTS", r"\bCREATE\s+SCHEMA\s+IF\s+NOT\s+EXISTS\b",
          "src/gausskernel/optimizer/commands/schemacmds.cpp; measured on openGauss 6.0.0: in a B database "
          "it makes a binary-collation schema whose char/varchar columns fail with 0A000"),
    _rule("COPY FORCE_NULL", r"\bFORCE_NULL\b", "src/gausskernel/optimizer/commands/copy.cpp (no FORCE_NULL)"),
    _rule("binary COPY", r"\bCOPY\b.*\bFORMAT\s+binary\b",
          "src/gausskernel/optimizer/commands/copy.cpp (its binary header differs)"),
    _rule("ANALYZE / VACUUM inside a transaction block", r"(?:^|;)\s*(?:ANALYZE|ANALYSE|VACUUM)\b",
          "src/gausskernel/process/tcop/utility.cpp (PreventTransactionChain: ANALYZE of a non-temporary "
          "table, SQLSTATE 25001)", in_transaction=True),
    _rule("CONCURRENTLY inside a transaction block", r"\b(?:INDEX|REINDEX\b.*)\s+CONCURRENTLY\b",
          "src/gausskernel/process/tcop/utility.cpp (PreventTransactionChain)", in_transaction=True),
)

#: Name -> pattern of every rule (what a failure message shows).
GAUSSDB_FORBIDDEN: dict[str, re.Pattern[str]] = {r.name: r.pattern for r in GAUSSDB_RULES}

_BLANKED = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", re.DOTALL)


def _blank(sql_text: str) -> str:
    """``sql_text`` with comments removed and every literal / quoted identifier emptied ('' and "")."""
    return _BLANKED.sub(lambda m: "" if m.group(0)[0] in "-/" else m.group(0)[0] * 2, sql_text)


def forbidden_gaussdb_constructs(sql_text: str, *, in_transaction: bool = False) -> list[str]:
    """Names of the rules ``sql_text`` breaks (empty when clean).

    ``in_transaction``: the statement runs inside a transaction block; several statements in one
    text always do (the server runs them as one implicit block).
    """
    text = _blank(sql_text)
    if not in_transaction:
        in_transaction = shape(sql_text).several
    return [r.name for r in GAUSSDB_RULES if (in_transaction or not r.in_transaction) and r.pattern.search(text)]
