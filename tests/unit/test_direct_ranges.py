"""How a direct run cuts the interval into key ranges (engine.direct.split_ranges)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from gaussdb_batch.engine.direct import KEY_MAX, KEY_MIN, split_ranges


@given(keys=st.lists(st.integers(min_value=-(1 << 40), max_value=1 << 40), min_size=1, max_size=300),
       chunk_rows=st.integers(min_value=1, max_value=60))
@settings(max_examples=300)
def test_ranges_give_every_key_one_chunk_and_each_chunk_its_rows(keys, chunk_rows):
    """The cuts are what the source returns: the first key of rows 1, 1 + chunk_rows, ... in key order
    (first keys may repeat: a multi-column key; then the planned rows are an estimate)."""
    ordered = sorted(keys)
    cuts = ordered[::chunk_rows]
    ranges = split_ranges(cuts, len(ordered), chunk_rows)
    assert ranges[0][0] == KEY_MIN and ranges[-1][1] == KEY_MAX
    assert all(b[0] == a[1] + 1 and a[0] <= a[1] for a, b in itertools.pairwise(ranges))
    assert sum(n for _, _, n in ranges) == len(ordered)
    assert all(n >= 0 for *_, n in ranges)
    if len(set(ordered)) == len(ordered):  # a unique first key: planned rows are exact, every chunk but the last full
        for a, b, n in ranges:
            assert n == sum(1 for k in ordered if a <= k <= b)
        assert [n for *_, n in ranges[:-1]] == [chunk_rows] * (len(ranges) - 1)
        assert len(ranges) == -(-len(ordered) // chunk_rows)
