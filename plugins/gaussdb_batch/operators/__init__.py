"""gaussdb_batch.operators."""
