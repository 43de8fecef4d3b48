"""Client-side binding: psycopg2's ``%s`` / ``%(name)s`` placeholders rendered as SQL literals.

The dialects write SQL for psycopg2's paramstyle, and psycopg2 (like psycopg 3's
``ClientCursor``) sends the query with its values already quoted. A driver that binds
on the server instead (``async_gaussdb``) would need the exact type of every value up
front and would refuse ``'2024-01-01'`` for a date parameter; rendering the same text
psycopg2 sends keeps every driver on one SQL shape. Quoting is independent of
``standard_conforming_strings``: a string holding a backslash is sent as an ``E''``
literal.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

_PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^)]*)\))?(?P<conv>.)", re.DOTALL)


class BindError(TypeError):
    """A parameter cannot be rendered, or placeholders and parameters do not match."""


def quote_string(text: str) -> str:
    if "\x00" in text:
        raise ValueError("a string parameter contains a NUL character, which the server cannot store")
    body = text.replace("'", "''")
    if "\\" in body:
        return "E'" + body.replace("\\", "\\\\") + "'"
    return "'" + body + "'"


def _number(text: str) -> str:
    # ' -5', as psycopg2 renders it: "x - -5" would otherwise start a comment ("x --5").
    return " " + text if text.startswith("-") else text


def literal(value: Any) -> str:
    """The SQL literal for one Python value (the types psycopg2 adapts by default)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _number(str(int(value)))
    if isinstance(value, float):
        if math.isnan(value):
            return "'NaN'::float8"
        if math.isinf(value):
            return "'Infinity'::float8" if value > 0 else "'-Infinity'::float8"
        return _number(repr(value))
    if isinstance(value, Decimal):
        if value.is_nan():
            return "'NaN'::numeric"
        if value.is_infinite():
            return "'Infinity'::numeric" if value > 0 else "'-Infinity'::numeric"
        return _number(str(value))
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "'\\x" + bytes(value).hex() + "'::bytea"
    if isinstance(value, dt.datetime):
        kind = "timestamp" if value.tzinfo is None else "timestamptz"
        return f"'{value.isoformat()}'::{kind}"
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'::date"
    if isinstance(value, dt.time):
        return f"'{value.isoformat()}'::{'time' if value.tzinfo is None else 'timetz'}"
    if isinstance(value, dt.timedelta):
        return f"'{value.days} days {value.seconds} seconds {value.microseconds} microseconds'::interval"
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, list):
        if not value:
            return "'{}'"
        return "ARRAY[" + ",".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ")"
    getquoted = getattr(value, "getquoted", None)  # psycopg2 adapters (Json, AsIs, ...)
    if callable(getquoted):
        quoted = getquoted()
        return quoted.decode() if isinstance(quoted, bytes) else str(quoted)
    raise BindError(f"cannot bind a parameter of type {type(value).__name__}")


def render(sql: str, params: Sequence[Any] | Mapping[str, Any] | None) -> str:
    """``sql`` with its placeholders replaced by literals; no params: the text as given.

    Like psycopg2: without parameters ``%`` is not special; with them ``%%`` is a percent
    sign and every other ``%`` must be ``%s`` or ``%(name)s``.
    """
    if params is None:
        return sql
    named = isinstance(params, Mapping)
    if not named and (isinstance(params, (str, bytes)) or not isinstance(params, Sequence)):
        raise BindError(f"parameters must be a sequence or a mapping, not {type(params).__name__}")
    position = 0

    def substitute(match: re.Match[str]) -> str:
        nonlocal position
        name, conv = match.group("name"), match.group("conv")
        if conv == "%" and name is None:
            return "%"
        if conv != "s":
            raise BindError(f"unsupported placeholder {match.group(0)!r}: use %s, %(name)s or %%")
        if name is not None:
            if not named:
                raise BindError("the query uses %(name)s placeholders but the parameters are a sequence")
            if name not in params:  # type: ignore[operator]
                raise BindError(f"no parameter named {name!r}")
            return literal(params[name])  # type: ignore[index]
        if named:
            raise BindError("the query uses %s placeholders but the parameters are a mapping")
        if position >= len(params):  # type: ignore[arg-type]
            raise BindError("not enough parameters for the query's placeholders")
        position += 1
        return literal(params[position - 1])  # type: ignore[index]

    text = _PLACEHOLDER.sub(substitute, sql)
    if not named and position != len(params):  # type: ignore[arg-type]
        raise BindError("not all parameters were used by the query's placeholders")
    return text
