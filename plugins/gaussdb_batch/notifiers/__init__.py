"""gaussdb_batch.notifiers."""
