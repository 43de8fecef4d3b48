"""The engine's fixtures (tables in scratch schemas, connections, specs), shared here."""

from tests.integration.engine.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    conn_extra,
    conns,
    engine_driver,
    dialect_name,
    make_ctx,
    opengauss_semantics,
    orders,
    schemas,
    spec_data,
)
