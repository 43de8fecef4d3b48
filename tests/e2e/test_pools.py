"""Pools hold under the real scheduler (dag.test ignores them).

The batch has 4 lanes in pool ``e2e_load`` with 2 slots. The proof is read from the chunk
timings the engine writes into the control schema: at no instant are more than 2 chunk
transactions (or lanes) open. A control run with the pool widened to 4 slots shows the
same measurement does see more than 2 lanes loading at once when the pool allows it, so
the bound is the pool's doing and not an accident of timing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.e2e.conftest import DAG_ID, LOAD_POOL, LOAD_POOL_SLOTS, Stack, fingerprint, query

pytestmark = pytest.mark.e2e

# A whole year: ~2,300 orders, ~90 chunks of 25 rows, each chunk ~0.25 s inside its transaction.
START, END = dt.date(1996, 1, 1), dt.date(1997, 1, 1)


def max_overlap(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    """The largest number of intervals open at one instant (an end at t closes before a start at t)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    open_now = peak = 0
    for _, delta in events:
        open_now += delta
        peak = max(peak, open_now)
    return peak


def _run_and_measure(st: Stack, run_id: str) -> dict:
    dag_run = st.run_batch(DAG_ID, START, END, run_id)
    lanes = {t["map_index"]: t for t in st.api.task_instances(DAG_ID, dag_run) if t["task_id"] == "load"}
    assert sorted(lanes) == [0, 1, 2, 3] and all(t["state"] == "success" for t in lanes.values()), lanes
    assert all(t["pool"] == LOAD_POOL for t in lanes.values()), {i: t["pool"] for i, t in lanes.items()}
    chunks = query(st.target_dsn,
                   "SELECT c.lane, c.started_at, c.finished_at, c.status FROM gaussdb_batch.chunks c"
                   "  JOIN gaussdb_batch.runs r USING (run_id) WHERE r.batch = %s AND r.dag_run_id = %s",
                   (DAG_ID, dag_run))
    assert len(chunks) > 50 and all(c[3] == "DONE" for c in chunks), f"{len(chunks)} chunks: {chunks[:3]}"
    assert all(c[1] is not None and c[2] is not None and c[1] <= c[2] for c in chunks)
    spans: dict[int, list] = {}
    for lane, started, finished, _ in chunks:
        lo, hi = spans.get(lane, (started, finished))
        spans[lane] = (min(lo, started), max(hi, finished))
    return {
        "chunk_overlap": max_overlap([(c[1], c[2]) for c in chunks]),
        "lane_overlap": max_overlap(list(spans.values())),
        "lanes_with_chunks": sorted(spans),
    }


def test_pool_of_two_slots_bounds_four_lanes(local_stack: Stack):
    st = local_stack
    pool = st.api.get(f"/pools/{LOAD_POOL}")
    assert pool["slots"] == LOAD_POOL_SLOTS == 2

    bounded = _run_and_measure(st, "e2e_pool_2_slots")
    assert bounded["chunk_overlap"] <= 2, bounded
    assert bounded["lane_overlap"] <= 2, bounded
    assert bounded["chunk_overlap"] == 2, f"two slots should let two lanes load at once: {bounded}"
    assert fingerprint(st.target_dsn, START, END) == fingerprint(st.source_dsn, START, END)

    # Control: the same run with 4 slots loads with more than 2 lanes at once.
    st.api.patch(f"/pools/{LOAD_POOL}", {"pool": LOAD_POOL, "slots": 4, "include_deferred": False})
    try:
        wide = _run_and_measure(st, "e2e_pool_4_slots")
    finally:
        st.api.patch(f"/pools/{LOAD_POOL}", {"pool": LOAD_POOL, "slots": LOAD_POOL_SLOTS, "include_deferred": False})
    assert wide["chunk_overlap"] > 2, f"with 4 slots more than 2 lanes should load at once: {wide}"
    assert fingerprint(st.target_dsn, START, END) == fingerprint(st.source_dsn, START, END)
