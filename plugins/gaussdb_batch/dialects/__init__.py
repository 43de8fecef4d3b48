"""gaussdb_batch.dialects."""
