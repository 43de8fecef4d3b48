"""gaussdb_batch.checks."""
