"""Database errors classified by SQLSTATE, with messages that are safe to log.

Drivers map SQLSTATE classes they do not know (GaussDB's class ``YY``) to a plain
``DatabaseError``, so the decision "retry or fail" is made on the SQLSTATE string,
never on the exception class. Server messages are kept off the exception text:
their DETAIL (and for class 22 even the primary message) quotes row values; only the
primary message of classes that name objects (42, 3F) is shown.
"""

from __future__ import annotations

from collections.abc import Iterable

#: SQLSTATEs retried by default (GAUSSDB.md, "Errors worth retrying"). Entries of two
#: characters are whole classes. 57014 (query_canceled) includes statement_timeout:
#: retrying it repeats a slow statement, so it can be dropped via the ``retry_sqlstates`` extra.
DEFAULT_TRANSIENT_SQLSTATES: frozenset[str] = frozenset(
    {
        "08000", "08001", "08003", "08004", "08006",
        "40001", "40P01", "55P03",
        "57P01", "57P02", "57P03", "57014",
        "53300", "53200",
        "XX003", "XX009",
        "YY",
    }
)  # fmt: skip

#: Classes of bad data: never retried, the engine isolates the offending rows instead.
DATA_ERROR_CLASSES: frozenset[str] = frozenset({"22", "23"})
#: Classes whose server message names objects, never row values (42: syntax error or access
#: rule violation, e.g. 'column "o_orderdat" does not exist'; 3F: invalid schema name): the
#: message goes into the error text, because without it the cause is only in the server log.
NAMES_ONLY_CLASSES: frozenset[str] = frozenset({"42", "3F"})

TRANSIENT = "transient"
DATA = "data"
PERMANENT = "permanent"


class GaussDBError(Exception):
    """Base of every database error raised by the hook layer.

    ``sqlstate`` is the server's code (None when the connection was lost without one),
    ``purpose`` says what the hook was doing. ``server_message`` is the server's primary
    message: it may quote row values, so it is kept out of ``str(exc)`` and is meant for
    places that already hold the data (the rejects table), not for logs.
    """

    kind = PERMANENT

    def __init__(
        self,
        purpose: str,
        sqlstate: str | None,
        *,
        condition: str | None = None,
        where: str | None = None,
        attempts: int = 1,
        server_message: str | None = None,
        original: BaseException | None = None,
    ) -> None:
        self.purpose = purpose
        self.sqlstate = sqlstate
        self.condition = condition
        self.where = where
        self.attempts = attempts
        self.server_message = server_message
        self.original = original
        super().__init__(self._text())

    def _text(self) -> str:
        code = self.sqlstate or "none, connection lost"
        cond = f" {self.condition}" if self.condition else ""
        where = f" on {self.where}" if self.where else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        said = ""
        if self.server_message and (self.sqlstate or "")[:2].upper() in NAMES_ONLY_CLASSES:
            said = f": {self.server_message.strip()}"
        return f"{self.purpose} failed{tries}: SQLSTATE {code}{cond}{where}{said} ({self.kind} error). {self.advice}"

    @property
    def advice(self) -> str:
        return "Fix the SQL, the schema or the configuration; retrying will not help."


class TransientDBError(GaussDBError):
    """A failure that may pass on its own (lost session, deadlock, overload); retries ran out."""

    kind = TRANSIENT

    @property
    def advice(self) -> str:
        return "The hook's retries are exhausted; the task may be retried later."


class PermanentDBError(GaussDBError):
    """A failure retrying cannot fix: bad SQL, missing objects, permissions, configuration."""


class DataError(PermanentDBError):
    """Bad data (SQLSTATE class 22 or 23): isolate the rows, do not retry."""

    kind = DATA

    @property
    def advice(self) -> str:
        return "Some rows violate the target's types or constraints; isolate and reject them."


def parse_sqlstate_list(value: object) -> frozenset[str]:
    """Read the ``retry_sqlstates`` extra: a list or comma-separated string of codes or classes."""
    items: Iterable[object]
    if isinstance(value, str):
        items = value.replace(";", ",").split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ValueError(f"retry_sqlstates must be a list or a comma-separated string, got {value!r}")
    codes = frozenset(str(item).strip().upper() for item in items if str(item).strip())
    bad = sorted(code for code in codes if len(code) not in (2, 5) or not code.isalnum())
    if bad:
        raise ValueError(f"retry_sqlstates entries must be 5-character SQLSTATEs or 2-character classes: {bad}")
    return codes


def classify(
    sqlstate: str | None,
    *,
    connection_lost: bool = False,
    transient: frozenset[str] = DEFAULT_TRANSIENT_SQLSTATES,
) -> str:
    """Return TRANSIENT, DATA or PERMANENT for a SQLSTATE.

    ``connection_lost`` covers drivers reporting a dead socket without a code
    (psycopg2's "server closed the connection unexpectedly").
    """
    if not sqlstate:
        return TRANSIENT if connection_lost else PERMANENT
    code = sqlstate.upper()
    if code in transient or code[:2] in transient:
        return TRANSIENT
    if code[:2] in DATA_ERROR_CLASSES:
        return DATA
    return PERMANENT


_KIND_TO_CLASS: dict[str, type[GaussDBError]] = {
    TRANSIENT: TransientDBError,
    DATA: DataError,
    PERMANENT: PermanentDBError,
}


def error_class(kind: str) -> type[GaussDBError]:
    """The exception class raised for a classification result."""
    return _KIND_TO_CLASS[kind]
