"""gaussdb_batch.hooks."""
