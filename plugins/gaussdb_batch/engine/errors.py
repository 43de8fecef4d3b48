"""Engine errors: what failed, where (batch, run, chunk) and whether retrying can help."""

from __future__ import annotations


class BatchError(Exception):
    """A batch step failed; the message names the batch and, where known, run and chunk."""

    def __init__(self, batch: str, message: str, *, run_id: int | None = None, chunk_no: int | None = None):
        where = f"batch {batch!r}"
        if run_id is not None:
            where += f", run {run_id}"
        if chunk_no is not None:
            where += f", chunk {chunk_no}"
        super().__init__(f"{where}: {message}")
        self.batch, self.run_id, self.chunk_no, self.message = batch, run_id, chunk_no, message


class PermanentBatchError(BatchError):
    """Retrying cannot help (bad spec, bad data over the reject limit, missing table): fail now."""


class TransientBatchError(BatchError):
    """Retrying later may help (the database was unreachable after the hook's own retries)."""
