"""Process-wide statement observers, and the check for SQL that GaussDB rejects.

Every statement that runs through a connection made by GaussDBHook (``execute``,
``executemany`` and COPY) is shown to the registered observers as
``(sql_text, dialect_name)``. Tests use it to prove no PostgreSQL-only construct
reaches a GaussDB session; the cost when nobody listens is one truthiness check.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

StatementObserver = Callable[[str, str], None]

_observers: tuple[StatementObserver, ...] = ()
_lock = threading.Lock()


def add_statement_observer(observer: StatementObserver) -> None:
    """Register ``observer(sql_text, dialect_name)``; it must be fast and must not raise."""
    global _observers
    with _lock:
        _observers = (*_observers, observer)


def remove_statement_observer(observer: StatementObserver) -> None:
    """Unregister an observer (no error when it is not registered)."""
    global _observers
    with _lock:
        _observers = tuple(o for o in _observers if o is not observer)


def has_observers() -> bool:
    """True when somebody listens: cursors skip rendering composed SQL otherwise."""
    return bool(_observers)


def notify(sql_text: str, dialect_name: str) -> None:
    """Show one statement to every observer (a snapshot: registration may change concurrently)."""
    for observer in _observers:
        observer(sql_text, dialect_name)


#: Constructs that fail on openGauss / GaussDB centralized (GAUSSDB.md). Names are what a
#: failure message shows; patterns are case-insensitive and whitespace-tolerant.
GAUSSDB_FORBIDDEN: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE | re.DOTALL)
    for name, pattern in {
        "ON CONFLICT": r"\bON\s+CONFLICT\b",
        "ON COMMIT DROP": r"\bON\s+COMMIT\s+DROP\b",
        "lock_timeout": r"\block_timeout\b",
        "to_regclass": r"\bto_regclass\s*\(",
        "gen_random_uuid": r"\bgen_random_uuid\s*\(",
        "GENERATED ... AS IDENTITY": r"\bGENERATED\s+(ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY\b",
        "jsonb_build_object": r"\bjsonb_build_object\s*\(",
        "to_jsonb": r"\bto_jsonb\s*\(",
        "two-argument current_setting": r"\bcurrent_setting\s*\(\s*('(?:[^']|'')*'|[^,()]+)\s*,",
    }.items()
}


def forbidden_gaussdb_constructs(sql_text: str) -> list[str]:
    """Names of the GaussDB-incompatible constructs found in ``sql_text`` (empty when clean)."""
    return [name for name, pattern in GAUSSDB_FORBIDDEN.items() if pattern.search(sql_text)]
