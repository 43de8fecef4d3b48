"""SQL text per server family: nothing outside this package writes SQL shapes.

No SQL anywhere else, enforced by tests/unit/test_sql_location.py. A stage's statements are a
mixin module here (catalog, runs, landing, chunks, writes, row_hash, checks, compensation,
control_schema, adaptive_sql, ui_reads); ``Dialect`` (base.py) composes them, the families
(gaussdb.py, postgres.py) override what differs, and ``Capabilities`` (capabilities.py) holds
what the detected server can do.
"""

from __future__ import annotations

from gaussdb_batch.dialects.base import NULL_TERM, SEQ, Capabilities, Column, Dialect, base_type
from gaussdb_batch.dialects.gaussdb import GaussDBDialect
from gaussdb_batch.dialects.postgres import PostgresDialect

DIALECTS: dict[str, type[Dialect]] = {"gaussdb": GaussDBDialect, "postgres": PostgresDialect}


def get_dialect(name: str, *, capabilities: Capabilities | None = None, distribute_by: list[str] | None = None,
                **options: object) -> Dialect:
    """The dialect for a server family name ('gaussdb' or 'postgres').

    ``capabilities`` as detected (the hook's), or built from ``options`` (``Capabilities`` fields,
    over the family's defaults).
    """
    try:
        cls = DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {name!r}; expected one of {sorted(DIALECTS)}") from None
    if capabilities is None:
        capabilities = Capabilities.for_family(name, **options)
    elif options:
        raise TypeError(f"get_dialect takes capabilities or their fields, not both: {sorted(options)}")
    return cls(capabilities, distribute_by=distribute_by)


__all__ = ["NULL_TERM", "SEQ", "Capabilities", "Column", "Dialect", "GaussDBDialect", "PostgresDialect", "DIALECTS",
           "base_type", "get_dialect"]
