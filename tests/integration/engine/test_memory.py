"""Memory is bounded by chunk size: a lane's peak RSS at 1M rows is within 1.5x of 200k rows."""

from __future__ import annotations

import datetime as dt
import json

import psycopg2
import pytest

from gaussdb_batch.engine.extract import extract
from tests.integration.engine.conftest import make_orders
from tests.integration.engine.test_crash import _lane_process

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2030, 1, 1, tzinfo=UTC)


def _lane_peak_rss(spec, run_id) -> tuple[int, int]:
    proc = _lane_process(spec, run_id, lane=0)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    return result["rows_written"], result["maxrss_kib"]


@pytest.mark.parametrize("dialect_name", ["gaussdb"])
def test_lane_rss_is_flat_from_200k_to_1m_rows(spec_data, make_ctx, orders, source_dsn, target_dsn, schemas,
                                                 dialect_name):
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, 1_000_000, days=2000)
    peaks = {}
    for n, end_day in ((200_000, 400), (1_000_000, 2000)):
        with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
            cur.execute(f"TRUNCATE {orders}")
        end = START + dt.timedelta(days=end_day)
        data = spec_data(chunk_rows=20_000)
        ctx = make_ctx(chunk_rows=20_000)
        ex = extract(ctx, START, end)
        assert ex.rows == n
        written, peaks[n] = _lane_peak_rss(data, ex.run_id)
        assert written == n
    assert peaks[1_000_000] <= 1.5 * peaks[200_000], peaks
