"""How a direct run cuts the interval's key buckets into chunks (engine.direct.split_ranges)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from gaussdb_batch.engine.direct import KEY_MAX, KEY_MIN, split_ranges


@given(
    counts=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=40),
    chunk_rows=st.integers(min_value=1, max_value=1000),
)
@settings(max_examples=200, deadline=None)
def test_key_ranges_cover_every_key_once_and_hold_at_most_a_chunk_unless_one_bucket_does(counts, chunk_rows):
    width, kmin = 7, -50
    buckets = [(kmin + i * width, n) for i, n in enumerate(counts) if n]
    ranges = split_ranges(kmin, width, buckets, chunk_rows)
    if not buckets:
        assert ranges == []
        return
    assert ranges[0][0] == KEY_MIN and ranges[-1][1] == KEY_MAX
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    assert sum(n for _, _, n in ranges) == sum(counts)
    for a, b, n in ranges:
        inside = [m for s, m in buckets if a <= s <= b]
        assert sum(inside) == n
        assert n <= chunk_rows or len(inside) == 1
