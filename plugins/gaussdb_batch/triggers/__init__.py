"""gaussdb_batch.triggers."""
