"""The control laws of adaptive micro-batches: the seed's period rule (section 2.4) and AIMD chunk size."""

from __future__ import annotations

import random

import pytest

from gaussdb_batch.engine.adaptive import first_period, next_chunk_rows, next_period, period_sequence
from gaussdb_batch.engine.spec import AdaptiveSpec

LAW = AdaptiveSpec(t_min=1.0, t_max=5.0, step=1.0, backlog_threshold=100)


def test_periods_follow_the_seed_rule_for_a_sequence_of_backlogs():
    # above Q_th: T - dT (not below T_min); at or below Q_th: T + dT (not above T_max)
    backlogs = [500, 500, 500, 500, 500, 500, 0, 0, 101, 100, 99, 0, 0, 0, 0, 7000]
    assert period_sequence(backlogs, LAW, start=5.0) == [
        4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0, 4.0,
    ]


def test_the_threshold_itself_is_not_above_the_threshold():
    assert next_period(3.0, 100, LAW) == 4.0
    assert next_period(3.0, 101, LAW) == 2.0


def test_a_step_that_does_not_divide_the_range_is_clamped_at_both_bounds():
    law = AdaptiveSpec(t_min=0.2, t_max=2.0, step=0.5, backlog_threshold=0)
    down = period_sequence([1] * 6, law, start=2.0)
    assert down == pytest.approx([1.5, 1.0, 0.5, 0.2, 0.2, 0.2])
    up = period_sequence([0] * 6, law, start=0.2)
    assert up == pytest.approx([0.7, 1.2, 1.7, 2.0, 2.0, 2.0])


def test_a_batch_without_state_starts_at_t_max():
    assert first_period(LAW) == 5.0
    assert period_sequence([1000], LAW) == [4.0]


@pytest.mark.parametrize("seed", range(20))
def test_random_backlogs_never_leave_the_bounds_and_move_one_step_at_most(seed):
    rnd = random.Random(seed)
    t_min = rnd.uniform(0.1, 5)
    law = AdaptiveSpec(t_min=t_min, t_max=t_min + rnd.uniform(0, 20), step=rnd.uniform(0.01, 3),
                       backlog_threshold=rnd.randint(0, 50))
    backlogs = [rnd.choice([0, law.backlog_threshold, law.backlog_threshold + 1, rnd.randint(0, 200)])
                for _ in range(500)]
    period = rnd.uniform(law.t_min, law.t_max)
    periods = period_sequence(backlogs, law, start=period)
    for before, backlog, after in zip([period, *periods], backlogs, periods):
        assert law.t_min <= after <= law.t_max
        assert abs(after - before) <= law.step + 1e-9
        if backlog > law.backlog_threshold:
            assert after <= before
        else:
            assert after >= before


# --------------------------------------------------------------------------- chunk size (AIMD)
AIMD = {"target_seconds": 2.0, "min_rows": 100, "max_rows": 10_000, "step": 100}


def test_chunks_faster_than_the_target_grow_by_one_step():
    assert next_chunk_rows(1000, 1.0, **AIMD) == 1100
    assert next_chunk_rows(1000, 2.0, **AIMD) == 1100  # exactly on target is not too slow


def test_chunks_slower_than_the_target_halve():
    assert next_chunk_rows(1000, 2.01, **AIMD) == 500
    assert next_chunk_rows(999, 30.0, **AIMD) == 499


def test_chunk_size_stays_within_its_bounds():
    assert next_chunk_rows(10_000, 0.1, **AIMD) == 10_000
    assert next_chunk_rows(150, 9.0, **AIMD) == 100
    assert next_chunk_rows(9_950, 0.1, **AIMD) == 10_000


def test_no_full_chunk_keeps_the_size():
    assert next_chunk_rows(1000, None, **AIMD) == 1000
    assert next_chunk_rows(1000, float("nan"), **AIMD) == 1000


def test_aimd_settles_around_the_target_duration():
    """A chunk costs 0.5 ms per row plus 50 ms: 2 s is reached near 3900 rows."""
    rows, history = 100, []
    for _ in range(400):
        seconds = 0.05 + rows * 0.0005
        history.append(seconds)
        rows = next_chunk_rows(rows, seconds, **AIMD)
        assert AIMD["min_rows"] <= rows <= AIMD["max_rows"]
    late = history[200:]
    assert max(late) <= 2.0 + 0.0005 * AIMD["step"] + 1e-9  # at most one step past the target
    assert min(late) >= 0.9  # a halving never lands far below half the target
    assert 1.3 <= sum(late) / len(late) <= 2.0
