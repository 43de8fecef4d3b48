"""Validation and quoting of SQL identifiers that come from specs, connections or users.

Identifiers are never interpolated raw: they must look like plain SQL identifiers
(letters, digits, underscore, ``$``; not starting with a digit; at most 63 bytes),
and are then always emitted double-quoted, so reserved words and case are safe too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
MAX_IDENT_BYTES = 63


class IdentifierError(ValueError):
    """An identifier from outside is not a plain SQL identifier."""


def validate_identifier(name: object, *, what: str = "identifier") -> str:
    """Return ``name`` unchanged when it is a plain identifier, else raise IdentifierError."""
    if not isinstance(name, str) or not name:
        raise IdentifierError(f"{what} must be a non-empty string, got {name!r}")
    if len(name.encode("utf-8")) > MAX_IDENT_BYTES:
        raise IdentifierError(f"{what} {name!r} is longer than {MAX_IDENT_BYTES} bytes")
    if not _IDENT_RE.match(name):
        raise IdentifierError(
            f"{what} {name!r} is not a plain SQL identifier "
            "(letters, digits, '_' or '$', not starting with a digit)"
        )
    return name


def quote_ident(name: str, *, what: str = "identifier") -> str:
    """Validate and double-quote one identifier."""
    return '"' + validate_identifier(name, what=what) + '"'


@dataclass(frozen=True)
class TableRef:
    """A validated ``schema.table`` reference."""

    schema: str
    name: str

    def __post_init__(self) -> None:
        validate_identifier(self.schema, what="schema name")
        validate_identifier(self.name, what="table name")

    @classmethod
    def parse(cls, text: str, *, default_schema: str = "public") -> TableRef:
        """Parse ``table`` or ``schema.table`` (no quoting accepted: names must be plain)."""
        if not isinstance(text, str) or not text:
            raise IdentifierError(f"table reference must be a non-empty string, got {text!r}")
        parts = text.split(".")
        if len(parts) == 1:
            return cls(default_schema, parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        raise IdentifierError(f"table reference {text!r} must be 'table' or 'schema.table'")

    @property
    def sql(self) -> str:
        """The quoted, qualified name for SQL text."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"
