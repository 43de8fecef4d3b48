"""A trigger that waits one adaptive period, then measures the source backlog past a watermark.

It runs in the triggerer: the wait costs no worker slot, and the count runs in a thread
(``asyncio.to_thread``) so a slow database never blocks the triggerer's event loop. It
fires exactly one event with everything the sensor needs to resume: the backlog, the
source's cut-off time, the period it waited and how long it really waited. The control
law and the state writes happen in the sensor (in the worker), where metrics are set up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

#: Polls remembered in the event (newest last): enough to read how the wait adapted.
MAX_POLLS = 50


class BacklogTrigger(BaseTrigger):
    """Sleep ``period`` seconds, then count rows of ``table`` with ``column >= watermark`` that are due.

    ``polls`` is the list of earlier polls of the same wait ([period, waited, backlog]); the
    event carries it back with this poll appended, so nothing depends on resume kwargs.
    """

    def __init__(self, *, conn_id: str, table: str, column: str, watermark: str, period: float,
                 batch: str = "", polls: list[list[float]] | None = None) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.table = table
        self.column = column
        self.watermark = watermark
        self.period = float(period)
        self.batch = batch
        self.polls = [list(p) for p in (polls or [])][-MAX_POLLS:]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"conn_id": self.conn_id, "table": self.table, "column": self.column, "watermark": self.watermark,
             "period": self.period, "batch": self.batch, "polls": self.polls},
        )

    def _measure(self) -> tuple[int, dt.datetime]:
        from gaussdb_batch.engine.adaptive import measure_backlog
        from gaussdb_batch.hooks.gaussdb import GaussDBHook
        from gaussdb_batch.identifiers import TableRef

        hook = GaussDBHook(gaussdb_conn_id=self.conn_id)
        try:
            return measure_backlog(hook, TableRef.parse(self.table), self.column,
                                   dt.datetime.fromisoformat(self.watermark))
        finally:
            hook.close()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        t0 = time.monotonic()
        await asyncio.sleep(self.period)
        waited = time.monotonic() - t0
        backlog, cutoff = await asyncio.to_thread(self._measure)
        self.log.info("batch=%s: backlog %s rows past %s after waiting %.2fs", self.batch, backlog,
                      self.watermark, waited)
        polls = [*self.polls, [self.period, round(waited, 4), backlog]][-MAX_POLLS:]
        yield TriggerEvent({
            "backlog": backlog, "cutoff": cutoff.isoformat(), "watermark": self.watermark,
            "period": self.period, "waited": waited, "polls": polls,
        })
