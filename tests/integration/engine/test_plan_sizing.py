"""A chunk's plans are pinned to index probes while it is a small share of its target, free otherwise."""

from __future__ import annotations

import psycopg2
import pytest

from gaussdb_batch.engine.context import PIN_SHARE, estimated_rows
from tests.integration.engine.conftest import make_orders


def _settings(ctx, rows: int) -> tuple[bool, str, str]:
    def read(conn):
        with conn.cursor() as cur:
            pinned = ctx.size_plans(cur, rows)
            cur.execute("SELECT current_setting('enable_hashjoin'), current_setting('enable_seqscan')")
            return (pinned, *cur.fetchone())

    return ctx.tx(read, purpose="read the plan settings")


@pytest.mark.parametrize("analyzed", [True, False], ids=["analyzed", "grown_since_analyze"])
def test_pins_follow_the_chunks_share_of_the_target(analyzed, make_ctx, orders, target_dsn):
    ctx = make_ctx(chunk_rows=100).prepare()
    assert _settings(ctx, 1000) == (False, "on", "on")  # empty target: a chunk is all of it
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"ANALYZE {orders}")  # statistics of an empty table, as at the start of a first load
        make_orders(cur, orders, 20_000)
        if analyzed:
            cur.execute(f"ANALYZE {orders}")
    # Grown since ANALYZE: the estimate follows the table's pages now, as the planner's does.
    assert _settings(ctx, 1000) == (True, "off", "off")
    assert _settings(ctx, 20_000) == (False, "on", "on")
    # Pinned after the transaction? No: the settings are local to the chunk's transaction.
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute("SHOW enable_hashjoin")
        assert cur.fetchone()[0] == "on"


def test_estimate_is_density_times_pages_now():
    assert estimated_rows(1000.0, 10, 20 * 8192, "8192") == 2000
    assert estimated_rows(0.0, 0, 0, "8192") == 0
    assert estimated_rows(-1.0, 0, 4 * 8192, "8192") > 0  # never analyzed: a default density
    assert PIN_SHARE > 1
