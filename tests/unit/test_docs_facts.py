"""What the docs promise, held against the code that keeps the promise."""

from __future__ import annotations

import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_throttle_is_documented_per_lane_as_the_lanes_apply_it():
    from gaussdb_batch.engine import load

    # Each lane sleeps its own chunks to the rate: the rate is per lane, and the docs say so.
    assert "chunk.rows_in / spec.throttle_rows_per_second" in inspect.getsource(load)
    [row] = [line for line in (ROOT / "docs" / "spec.md").read_text().splitlines()
             if line.startswith("| `throttle_rows_per_second`")]
    assert "each load lane" in row and "per lane" in row


def test_the_readme_says_what_each_role_sees_on_the_batches_page():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### The Batches page"):text.index("## Pointing it at a real GaussDB")]
    for role in ("| `viewer` |", "| `user`, `op`, `admin` (may edit the DAG) |", "| no token |"):
        assert role in section, role
    assert "GET /api/v2/dags" in section and "404" in section and "422" in section
