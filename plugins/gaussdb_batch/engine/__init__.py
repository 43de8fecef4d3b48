"""gaussdb_batch.engine."""
