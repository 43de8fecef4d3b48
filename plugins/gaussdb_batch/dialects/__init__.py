"""SQL text per server family: nothing outside this package writes SQL shapes."""

from __future__ import annotations

from gaussdb_batch.dialects.base import SEQ, Column, Dialect
from gaussdb_batch.dialects.gaussdb import GaussDBDialect
from gaussdb_batch.dialects.postgres import PostgresDialect

DIALECTS: dict[str, type[Dialect]] = {"gaussdb": GaussDBDialect, "postgres": PostgresDialect}


def get_dialect(name: str, **options) -> Dialect:
    """The dialect for a server family name ('gaussdb' or 'postgres')."""
    try:
        cls = DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {name!r}; expected one of {sorted(DIALECTS)}") from None
    return cls(**options)


__all__ = ["SEQ", "Column", "Dialect", "GaussDBDialect", "PostgresDialect", "DIALECTS", "get_dialect"]
